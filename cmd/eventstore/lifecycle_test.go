package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// sweep removes the expired items of a table, as DynamoDB's Time to Live
// does, days later.
func sweep(t *testing.T, client *dynamodb.Client, table string) int {
	t.Helper()
	out, err := client.Scan(ctx(t), &dynamodb.ScanInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("expiresAt <= :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Unix(), 10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range out.Items {
		key := map[string]types.AttributeValue{"aggregateId": item["aggregateId"], "version": item["version"]}
		if _, err := client.DeleteItem(ctx(t), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	return len(out.Items)
}

func TestVerifyPassesAfterDeleteAndExpire(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{})
	seed(t, store, 4) // account#a and account#b, versions 0 to 3
	if _, err := store.SaveSnapshot(ctx(t), eventstore.Snapshot{AggregateID: "account#a", Version: 2, Tag: "t", State: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Expire(ctx(t), "account#a", eventstore.Retention{BeforeVersion: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Delete(ctx(t), "account#b", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, table, "verify").want(t, exitOK)
	if !strings.Contains(r.stdout, "verify: 1 snapshots") || !strings.Contains(r.stdout, "verify: 2 commits of 2 aggregates, 0 problems") {
		t.Errorf("verify after Expire and Delete, before the sweep: %q", r.stdout)
	}
	if r := runCLI(t, table, "cat", "account#a", "-snapshots").want(t, exitOK); !strings.Contains(r.stdout, `snapshot aggregate="account#a" version=2 tag="t"`) {
		t.Errorf("cat -snapshots: %q", r.stdout)
	}
	if r := runCLI(t, table, "cat", "account#b"); r.code == exitOK || !strings.Contains(r.stderr, "aggregate deleted") {
		t.Errorf("cat of a deleted aggregate: exit %d, %q", r.code, r.stderr)
	}
	if n := sweep(t, client, table); n != 3+4 {
		t.Fatalf("the sweep removed %d items, want 7 (3 of account#a, 4 of account#b)", n)
	}
	r = runCLI(t, table, "verify").want(t, exitOK)
	if !strings.Contains(r.stdout, "verify: 2 commits of 2 aggregates, 0 problems") {
		t.Errorf("verify after Expire and Delete, after the sweep: %q", r.stdout)
	}
}
