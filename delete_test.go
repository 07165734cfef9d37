package eventstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// allItems counts every item of an aggregate, expired or not.
func allItems(tb testing.TB, client *dynamodb.Client, table, id string) []map[string]types.AttributeValue {
	tb.Helper()
	out, err := client.Query(ctxT(tb), &dynamodb.QueryInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("aggregateId = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Items
}

func TestDeleteTombstoneReachesLiveTailOnceAndRefusesAppends(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	first := mustAppend(t, s, commit("other", 0))
	mustAppend(t, s, commit("a", 0))
	mustAppend(t, s, commit("a", 1))
	if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: "a", Version: 1, Tag: "t"}); err != nil {
		t.Fatal(err)
	}
	seen, stop := tailUntil(t, s, first.CommitID, eventstore.Live())
	eventually(t, 10*time.Second, func() bool { return seen() >= 2 })

	tomb, err := s.Delete(ctxT(t), "a", time.Hour, map[string]string{"reason": "gdpr"})
	if err != nil || tomb.Version != 2 || !tomb.IsTombstone() {
		t.Fatalf("Delete = version %d tombstone %v, %v; want a tombstone at version 2", tomb.Version, tomb.IsTombstone(), err)
	}
	eventually(t, 10*time.Second, func() bool { return seen() >= 3 })
	time.Sleep(500 * time.Millisecond) // time for a second delivery
	got, errs := stop()
	tombstones := 0
	for _, c := range got {
		if c.IsTombstone() {
			tombstones++
			if c.CommitID != tomb.CommitID || c.Metadata["reason"] != "gdpr" {
				t.Errorf("the tail's tombstone %+v, want %+v", c, tomb)
			}
		}
	}
	if tombstones != 1 || len(errs) != 0 {
		t.Errorf("the live tail yielded %d tombstones (errors %v), want 1", tombstones, errs)
	}

	before := len(allItems(t, client, table, "a"))
	for c, err := range s.Query(ctxT(t), "a", 0) {
		if !errors.Is(err, eventstore.ErrAggregateDeleted) {
			t.Errorf("Query of a deleted aggregate yielded %+v, %v; want ErrAggregateDeleted first", c, err)
		}
		break
	}
	for c, err := range s.Query(ctxT(t), "a", 3) {
		if !errors.Is(err, eventstore.ErrAggregateDeleted) {
			t.Errorf("Query past the tombstone yielded %+v, %v; want ErrAggregateDeleted", c, err)
		}
		break
	}
	for name, write := range map[string]func() error{
		"Append after the tombstone": func() error { _, err := s.Append(ctxT(t), commit("a", 3)); return err },
		"Append past it":             func() error { _, err := s.Append(ctxT(t), commit("a", 4)); return err },
		"Append at the tombstone":    func() error { _, err := s.Append(ctxT(t), commit("a", 2)); return err },
		"AppendNew":                  func() error { _, err := s.AppendNew(ctxT(t), commit("a", 0)); return err },
		"AppendNext":                 func() error { _, err := s.AppendNext(ctxT(t), commit("a", 0)); return err },
		"AppendAll":                  func() error { _, err := s.AppendAll(ctxT(t), commit("a", 3), commit("b", 0)); return err },
		"Delete again":               func() error { _, err := s.Delete(ctxT(t), "a", time.Hour, nil); return err },
		"SaveSnapshot": func() error {
			_, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: "a", Version: 2, Tag: "t"})
			return err
		},
		"Load":          func() error { _, err := s.Load(ctxT(t), "a", "t"); return err },
		"LatestVersion": func() error { _, err := s.LatestVersion(ctxT(t), "a"); return err },
	} {
		if err := write(); !errors.Is(err, eventstore.ErrAggregateDeleted) {
			t.Errorf("%s: %v, want ErrAggregateDeleted", name, err)
		}
	}
	if after := len(allItems(t, client, table, "a")); after != before {
		t.Errorf("the refused writes left %d items, want %d", after, before)
	}
	// Every item but the tombstone and the guard has expired; none is gone.
	if got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0))); len(got) != 2 || !got[1].IsTombstone() {
		t.Errorf("Scan after the delete yields %d commits, want the other aggregate's and the tombstone", len(got))
	}
	if before != 5 {
		t.Errorf("the deleted aggregate has %d items, want 5 (2 commits, a snapshot, the tombstone, the guard)", before)
	}
}

func TestDeleteBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	if _, err := s.Delete(ctxT(t), "a", time.Second, nil); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Delete keeping the tombstone less than the settle window = %v, want ErrInvalidCommit", err)
	}
	if _, err := s.Delete(ctxT(t), "none", time.Hour, nil); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Delete of an aggregate without commits = %v, want ErrInvalidCommit", err)
	}
	if _, err := s.Delete(ctxT(t), "", time.Hour, nil); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Delete without an aggregate id = %v, want ErrInvalidCommit", err)
	}
	if n := len(allItems(t, client, table, "a")) + len(allItems(t, client, table, "none")); n != 1 {
		t.Errorf("refused deletes left %d items, want the one commit", n)
	}
}

func TestExpireKeepsLoadingFromTheSnapshot(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	const id = "cart#e"
	appendMany(t, s, id, 0, 30, nil)
	want := foldAll(t, s, id)
	for _, v := range []int64{9, 19} {
		st, _, err := eventstore.LoadFold(ctxT(t), s, id, "t", decodeTally, tally{}, applyTally)
		if err != nil {
			t.Fatal(err)
		}
		_ = st
		part, err := eventstore.Fold(s.Query(ctxT(t), id, 0), tally{}, func(s tally, e eventstore.EventView) (tally, error) {
			if e.Version > v {
				return s, nil
			}
			return applyTally(s, e)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: id, Version: v, Tag: "t", State: encodeTally(part)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Expire(ctxT(t), id, eventstore.Retention{BeforeVersion: 21}); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Expire past the newest snapshot + 1 = %v, want ErrInvalidCommit", err)
	}
	if _, err := s.Expire(ctxT(t), id, eventstore.Retention{}); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Expire without a bound = %v, want ErrInvalidCommit", err)
	}
	n, err := s.Expire(ctxT(t), id, eventstore.Retention{BeforeVersion: 20})
	if err != nil || n != 20 {
		t.Fatalf("Expire before version 20 = %d, %v; want 20 commits expired", n, err)
	}
	got, version, err := eventstore.LoadFold(ctxT(t), s, id, "t", decodeTally, tally{}, applyTally)
	if err != nil || got != want || version != 29 {
		t.Errorf("LoadFold after Expire = %+v at %d, %v; want %+v at 29", got, version, err, want)
	}
	commits := collect(t, s.Query(ctxT(t), id, 0))
	if len(commits) != 10 || commits[0].Version != 20 {
		t.Errorf("Query from 0 after Expire yields %d commits from version %d, want 10 from 20", len(commits), commits[0].Version)
	}
	if got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0))); len(got) != 10 {
		t.Errorf("Scan after Expire yields %d commits, want 10", len(got))
	}
	if items := allItems(t, client, table, id); len(items) != 32 {
		t.Errorf("the aggregate has %d items, want all 32 until DynamoDB removes them", len(items))
	}
	if _, err := s.Load(ctxT(t), id, "other"); !errors.Is(err, eventstore.ErrHistoryExpired) {
		t.Errorf("Load with another tag after Expire = %v, want ErrHistoryExpired", err)
	}
	if _, err := s.Append(ctxT(t), commit(id, 30)); err != nil {
		t.Errorf("Append after Expire: %v", err)
	}
	// By age: nothing more is old enough.
	if n, err := s.Expire(ctxT(t), id, eventstore.Retention{OlderThan: time.Hour}); err != nil || n != 0 {
		t.Errorf("Expire of commits older than an hour = %d, %v; want 0", n, err)
	}
}

func TestExpireWithoutSnapshotIsRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	mustAppend(t, s, commit("a", 1))
	if _, err := s.Expire(ctxT(t), "a", eventstore.Retention{BeforeVersion: 1}); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Expire of an aggregate without snapshot = %v, want ErrInvalidCommit", err)
	}
	for _, item := range allItems(t, client, table, "a") {
		if item["expiresAt"] != nil {
			t.Errorf("a refused Expire set expiresAt on version %v", item["version"])
		}
	}
}
