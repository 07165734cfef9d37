package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// reshard -to N writes the schedule, refuses a count that is not a larger
// multiple, stats shows the schedule and each epoch's write share, and
// verify checks each commit against its CommitID's epoch.
func TestReshardCommand(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{ScanShards: 4})
	commits := seed(t, store, 2)
	if r := runCLI(t, table, "reshard", "-to", "6").want(t, exitRuntime); !strings.Contains(r.stderr, "multiple of 4") {
		t.Errorf("reshard -to 6: %q", r.stderr)
	}
	r := runCLI(t, table, "reshard", "-to", "16").want(t, exitOK)
	if !strings.Contains(r.stdout, "16 shards from") {
		t.Errorf("reshard -to 16: %q", r.stdout)
	}
	out := runCLI(t, table, "stats").want(t, exitOK).stdout
	for _, want := range []string{
		"schedule    [4 shards from the beginning, 16 shards from ",
		"  epoch 0    4 shards from the beginning: 4 commits; write share 0:",
		"  epoch 1    16 shards from ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stats:\n%s\nwant %q", out, want)
		}
	}
	if r := runCLI(t, table, "verify").want(t, exitOK); !strings.Contains(r.stdout, "0 problems") {
		t.Errorf("verify after the reshard: %q", r.stdout)
	}
	// A commit of epoch 0 moved to a shard that 16 shards would have, not 4.
	c := commits[0]
	wrong := (store4Shard(c.AggregateID) + 1) % 4
	if _, err := client.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: c.AggregateID},
			"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)},
		},
		UpdateExpression:          aws.String("SET #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "shard"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.Itoa(wrong)}},
	}); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, table, "verify").want(t, 1)
	if !strings.Contains(r.stdout, "its CommitID's epoch (4 shards) assigns") {
		t.Errorf("verify of a commit in the wrong shard:\n%s", r.stdout)
	}
}

// store4Shard is the shard of an aggregate under 4 shards.
func store4Shard(aggregateID string) int {
	return eventstore.ShardSchedule{{Shards: 4}}.Shard(aggregateID, "")
}
