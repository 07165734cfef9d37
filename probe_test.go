package eventstore_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
)

// Issue 12, defect 6: an item whose commitId is not canonical (lower case)
// sorts past the scan's horizon; Scan and Tail must report it, not skip it.
func TestScanReportsANonCanonicalCommitID(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	// Settled commits, 3, 2 and 1 minutes old, written by Import, which
	// keeps their CommitIDs.
	imported := func(id string, age time.Duration) eventstore.Commit {
		c := commit(id, 0)
		c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-age)), rand.Reader).String()
		c, err := s.Import(ctxT(t), c)
		if err != nil {
			t.Fatalf("Import %s: %v", id, err)
		}
		return c
	}
	a := imported("a", 3*time.Minute)
	bad := imported("bad", 2*time.Minute)
	imported("c", time.Minute)
	lower := strings.ToLower(bad.CommitID)
	if lower == bad.CommitID {
		t.Fatalf("commit id %s has no letter", bad.CommitID)
	}
	_, err := client.UpdateItem(ctxT(t), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "bad"},
			"version":     &types.AttributeValueMemberN{Value: "0"},
		},
		UpdateExpression:          aws.String("SET commitId = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": &types.AttributeValueMemberS{Value: lower}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The index is eventually consistent (DynamoDB Local's too, under
	// load): wait until it shows the updated item, which a scan without
	// settle window reads within its range.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		indexed := false
		for _, err := range s.Scan(ctxT(t), "", eventstore.WithSettle(0)) {
			indexed = errors.Is(err, eventstore.ErrCorruptCommit)
		}
		if indexed || time.Now().After(deadline) {
			break
		}
	}
	check := func(name string, seq func(func(eventstore.Commit, error) bool)) {
		t.Helper()
		var got []string
		for c, err := range seq {
			if err != nil {
				if !errors.Is(err, eventstore.ErrCorruptCommit) || !strings.Contains(err.Error(), `"bad" version 0`) {
					t.Errorf("%s: %v, want ErrCorruptCommit naming aggregate \"bad\" version 0", name, err)
				}
				if len(got) != 1 || got[0] != a.CommitID {
					t.Errorf("%s yielded %v before the error, want only %s", name, got, a.CommitID)
				}
				return
			}
			got = append(got, c.CommitID)
		}
		t.Errorf("%s yielded %v and no error: the non-canonical item was skipped", name, got)
	}
	check("Scan", s.Scan(ctxT(t), ""))
	check("Tail", s.Tail(ctxT(t), ""))
}
