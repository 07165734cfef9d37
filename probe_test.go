package eventstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
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

// Issue 26, item 7: every item of the scan index whose commitId is not a
// canonical ULID is reported by Scan and Tail, wherever it sorts: below
// every ULID, among them, above the horizon, above every ULID, in lower
// case. A canonical CommitID in the future is not foreign: it is yielded
// once it settles, and the probe must not report it.
func TestScanReportsEveryForeignCommitID(t *testing.T) {
	t.Parallel()
	future := ulid.MustNew(ulid.Timestamp(time.Now().Add(2*time.Hour)), rand.Reader).String()
	for _, tc := range []struct {
		name, commitID string
		version        string
		foreign        bool
		sortsBefore    bool // before the good commit: a scan after it need not see it
	}{
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", "0", true, false},
		{"upper-case uuid", "0F8FAD5B-D9CB-469F-A165-70867728950E", "0", true, false},
		{"uuid below the horizon", "01234567-89ab-cdef-0123-456789abcdef", "0", true, true},
		{"above every ULID", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "0", true, false},
		{"lower case, above every ULID", "zzzz", "0", true, false},
		{"a far-future ULID in lower case", strings.ToLower(future), "0", true, false},
		{"below every ULID", "-1", "0", true, false},
		{"a prefix of the smallest ULID", "0", "0", true, false},
		{"too long", future + "0", "0", true, false},
		{"a settled ULID at a negative version", "settled", "-1", true, false}, // made in the subtest, after the good commit's
		{"a canonical ULID two hours ahead", future, "0", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, client, table := newStore(t, eventstore.Config{ScanShards: 2})
			good := commit("good", 0)
			good.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
			if _, err := s.Import(ctxT(t), good); err != nil {
				t.Fatal(err)
			}
			if tc.commitID == "settled" { // parallel subtests may start long after the table was built
				tc.commitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-30*time.Second)), rand.Reader).String()
			}
			committedAt := "0"
			if id, err := ulid.ParseStrict(tc.commitID); err == nil {
				committedAt = strconv.FormatUint(id.Time(), 10)
			}
			putIndexed(t, client, table, map[string]types.AttributeValue{
				"aggregateId": &types.AttributeValueMemberS{Value: "foreign"},
				"version":     &types.AttributeValueMemberN{Value: tc.version},
				"commitId":    &types.AttributeValueMemberS{Value: tc.commitID},
				"committedAt": &types.AttributeValueMemberN{Value: committedAt},
				"shard":       &types.AttributeValueMemberN{Value: "1"},
				"events":      &types.AttributeValueMemberS{Value: `[{"t":"e"}]`},
			})
			for _, seq := range []struct {
				name string
				seq  func(context.Context) func(func(eventstore.Commit, error) bool)
			}{
				{"Scan", func(ctx context.Context) func(func(eventstore.Commit, error) bool) { return s.Scan(ctx, "") }},
				{"Scan with no settle window", func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
					return s.Scan(ctx, "", eventstore.WithSettle(0))
				}},
				{"Scan after the good commit", func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
					return s.Scan(ctx, good.CommitID)
				}},
				{"Tail", func(ctx context.Context) func(func(eventstore.Commit, error) bool) { return s.Tail(ctx, "") }},
			} {
				if tc.sortsBefore && seq.name == "Scan after the good commit" {
					continue
				}
				var got []string
				var failed error
				ctx, cancel := context.WithTimeout(ctxT(t), 3*time.Second) // Tail: a few polls
				for c, err := range seq.seq(ctx) {
					if err != nil {
						failed = err
						break
					}
					got = append(got, c.CommitID)
					if seq.name == "Tail" && !tc.foreign {
						break
					}
				}
				cancel()
				switch {
				case tc.foreign && failed == nil:
					t.Errorf("%s yielded %v and no error: the foreign item %q was skipped", seq.name, got, tc.commitID)
				case tc.foreign && (!errors.Is(failed, eventstore.ErrCorruptCommit) || !strings.Contains(failed.Error(), `"foreign"`)):
					t.Errorf("%s: %v, want ErrCorruptCommit naming aggregate \"foreign\"", seq.name, failed)
				case !tc.foreign && failed != nil:
					t.Errorf("%s: %v, want no error: a canonical CommitID ahead of the clock is not foreign", seq.name, failed)
				}
			}
		})
	}
}

// putIndexed writes a raw item and waits until the scan index shows it.
func putIndexed(t *testing.T, client *dynamodb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		out, err := client.Query(ctxT(t), &dynamodb.QueryInput{
			TableName:                 aws.String(table),
			IndexName:                 aws.String(eventstore.DefaultIndex),
			KeyConditionExpression:    aws.String("#s = :s AND #c = :c"),
			ExpressionAttributeNames:  map[string]string{"#s": "shard", "#c": "commitId"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": item["shard"], ":c": item["commitId"]},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan index does not show item %v after a minute", item)
		}
	}
}
