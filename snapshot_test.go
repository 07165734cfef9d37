package eventstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// tally is the state the snapshot tests fold: the sum and count of the
// events' n.
type tally struct{ Sum, Count int }

func applyTally(s tally, e eventstore.EventView) (tally, error) {
	var d struct{ N int }
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return s, err
	}
	return tally{s.Sum + d.N, s.Count + 1}, nil
}

func decodeTally(snap eventstore.Snapshot) (tally, error) {
	var s tally
	err := json.Unmarshal(snap.State, &s)
	return s, err
}

func encodeTally(s tally) []byte {
	b, _ := json.Marshal(s)
	return b
}

// appendMany appends n commits to aggregate id from version from on, 100
// per AppendAll, calling each after every batch with the last version
// stored.
func appendMany(tb testing.TB, s *eventstore.Store, id string, from, n int64, each func(last int64)) {
	tb.Helper()
	for start := from; start < from+n; start += 100 {
		var batch []eventstore.Commit
		for v := start; v < min(start+100, from+n); v++ {
			batch = append(batch, commit(id, v))
		}
		if _, err := s.AppendAll(ctxT(tb), batch...); err != nil {
			tb.Fatalf("AppendAll from version %d: %v", start, err)
		}
		if each != nil {
			each(batch[len(batch)-1].Version)
		}
	}
}

// foldAll is the state of every commit of the aggregate, by Query.
func foldAll(tb testing.TB, s *eventstore.Store, id string) tally {
	tb.Helper()
	st, err := eventstore.Fold(s.Query(ctxT(tb), id, 0), tally{}, applyTally)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// sumObservations adds up the requests and read units of observations.
func sumObservations(obs []eventstore.Observation) (requests int, readUnits float64, commits int) {
	for _, o := range obs {
		requests += o.Requests
		readUnits += o.ReadUnits
		commits += o.Commits
	}
	return requests, readUnits, commits
}

func TestSnapshotLoadsTenThousandCommitsInTwoRequests(t *testing.T) {
	t.Parallel()
	seen := &observations{}
	s, _, _ := newStore(t, eventstore.Config{Observer: seen})
	const id = "cart#big"
	appendMany(t, s, id, 0, 10_000, func(last int64) {
		if last == 9999 {
			return // the last 100 commits come after the newest snapshot
		}
		st, _, err := eventstore.LoadFold(ctxT(t), s, id, "tally/v1", decodeTally, tally{}, applyTally)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: id, Version: last, Tag: "tally/v1", State: encodeTally(st)}); err != nil {
			t.Fatal(err)
		}
	})
	want := foldAll(t, s, id)
	if want.Count != 10_000 {
		t.Fatalf("a fold of every commit counts %d events, want 10000", want.Count)
	}

	seen.take("")
	got, version, err := eventstore.LoadFold(ctxT(t), s, id, "tally/v1", decodeTally, tally{}, applyTally)
	if err != nil || got != want || version != 9999 {
		t.Fatalf("LoadFold from the snapshot = %+v at version %d, %v; want %+v at 9999 (a fold of every commit)", got, version, err, want)
	}
	requests, units, commits := sumObservations(seen.take(eventstore.OpLoad))
	t.Logf("load from a snapshot: %d requests, %.1f read units, %d commits read", requests, units, commits)
	if requests > 2 || commits > 100 {
		t.Errorf("a load from the snapshot at version 9899 took %d requests and read %d commits, want at most 2 and 100", requests, commits)
	}

	// The same aggregate without a usable snapshot: a full replay.
	got, _, err = eventstore.LoadFold(ctxT(t), s, id, "tally/none", decodeTally, tally{}, applyTally)
	if err != nil || got != want {
		t.Fatalf("LoadFold without a snapshot of the tag = %+v, %v; want %+v", got, err, want)
	}
	fullRequests, fullUnits, fullCommits := sumObservations(seen.take(eventstore.OpLoad))
	t.Logf("load without a snapshot: %d requests, %.1f read units, %d commits read", fullRequests, fullUnits, fullCommits)
	if fullCommits != 10_000 {
		t.Errorf("a full replay read %d commits, want 10000", fullCommits)
	}

	// The newest snapshot has another tag: ignored, a full replay follows.
	if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: id, Version: 9999, Tag: "tally/v2", State: []byte("not even JSON")}); err != nil {
		t.Fatal(err)
	}
	l, err := s.Load(ctxT(t), id, "tally/v1")
	if err != nil || l.Snapshot != nil || len(l.Commits) != 10_000 {
		t.Fatalf("Load with the newest snapshot of another tag: snapshot %v, %d commits, %v; want none, 10000, nil", l.Snapshot, len(l.Commits), err)
	}
	got, _, err = eventstore.LoadFold(ctxT(t), s, id, "tally/v1", decodeTally, tally{}, applyTally)
	if err != nil || got != want {
		t.Errorf("LoadFold past a snapshot of another tag = %+v, %v; want %+v", got, err, want)
	}
}

func TestSnapshotUpdateFromDecidesOnSnapshotAndTail(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	const id = "cart#u"
	appendMany(t, s, id, 0, 10, nil)
	if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: id, Version: 6, Tag: "t", State: encodeTally(tally{Sum: 21, Count: 7})}); err != nil {
		t.Fatal(err)
	}
	var sawSnapshot *eventstore.Snapshot
	var sawVersions []int64
	c, err := s.UpdateFrom(ctxT(t), id, "t", func(snap *eventstore.Snapshot, history iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		sawSnapshot, sawVersions = snap, nil
		for c, err := range history {
			if err != nil {
				return nil, err
			}
			sawVersions = append(sawVersions, c.Version)
		}
		return []eventstore.Event{event("happened", 10)}, nil
	})
	if err != nil || c.Version != 10 {
		t.Fatalf("UpdateFrom = version %d, %v; want 10, nil", c.Version, err)
	}
	if sawSnapshot == nil || sawSnapshot.Version != 6 || fmt.Sprint(sawVersions) != "[7 8 9]" {
		t.Errorf("decide saw snapshot %+v and versions %v, want the snapshot at 6 and [7 8 9]", sawSnapshot, sawVersions)
	}
	if got := foldAll(t, s, id); got.Count != 11 {
		t.Errorf("after UpdateFrom the aggregate has %d events, want 11", got.Count)
	}
}

func TestSnapshotLargeStateIsOffloadedAndLoads(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, table := offloadStore(t, eventstore.Config{})
	client := dynamotest.Client(t)
	const id = "doc#1"
	mustAppend(t, s, commit(id, 0))
	state := []byte(randomText(1 << 20))
	if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: id, Version: 0, Tag: "big", State: state}); err != nil {
		t.Fatal(err)
	}
	if n := blobs.puts.Load(); n != 1 {
		t.Errorf("a 1 MB snapshot made %d blob puts, want 1", n)
	}
	l, err := s.Load(ctxT(t), id, "big")
	if err != nil || l.Snapshot == nil || !bytes.Equal(l.Snapshot.State, state) || len(l.Commits) != 0 {
		t.Fatalf("Load of an offloaded snapshot: %v, %d commits, state equal %v", err, len(l.Commits), l.Snapshot != nil && bytes.Equal(l.Snapshot.State, state))
	}
	if items := snapshotItems(t, client, table, id); len(items) != 1 || items[0]["state"] != nil || items[0]["eventsKey"] == nil {
		t.Errorf("the snapshot item: %d items, want one pointing to the blob, without inline state", len(items))
	}
}

func TestSnapshotLargeStateWithoutOffloadIsRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	_, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: "a", Version: 0, Tag: "big", State: make([]byte, 500_000)})
	if !errors.Is(err, eventstore.ErrCommitTooLarge) {
		t.Errorf("a 500 KB snapshot without Offload: %v, want ErrCommitTooLarge", err)
	}
	if items := snapshotItems(t, client, table, "a"); len(items) != 0 {
		t.Errorf("a refused snapshot wrote %d items", len(items))
	}
}

func TestSnapshotBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	mustAppend(t, s, commit("a", 1))
	for _, tc := range []struct {
		name string
		snap eventstore.Snapshot
	}{
		{"a version not stored", eventstore.Snapshot{AggregateID: "a", Version: 2, Tag: "t"}},
		{"an aggregate without commits", eventstore.Snapshot{AggregateID: "b", Version: 0, Tag: "t"}},
		{"a negative version", eventstore.Snapshot{AggregateID: "a", Version: -1, Tag: "t"}},
		{"no tag", eventstore.Snapshot{AggregateID: "a", Version: 1}},
		{"the library's aggregate", eventstore.Snapshot{AggregateID: "$eventstore", Version: 0, Tag: "t"}},
		{"no aggregate", eventstore.Snapshot{Version: 0, Tag: "t"}},
	} {
		_, err := s.SaveSnapshot(ctxT(t), tc.snap)
		if !errors.Is(err, eventstore.ErrInvalidCommit) {
			t.Errorf("%s: SaveSnapshot = %v, want ErrInvalidCommit", tc.name, err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if items := snapshotItems(t, client, table, id); len(items) != 0 {
			t.Errorf("refused snapshots of %s wrote %d items", id, len(items))
		}
	}
	if _, err := s.Load(ctxT(t), "a", ""); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Load without a tag = %v, want ErrInvalidCommit", err)
	}
}

func TestSnapshotIsNoCommitOfAnyRead(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	first := mustAppend(t, s, commit("a", 0))
	mustAppend(t, s, commit("a", 1))
	if _, err := s.SaveSnapshot(ctxT(t), eventstore.Snapshot{AggregateID: "a", Version: 1, Tag: "t", State: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s.Query(ctxT(t), "a", 0)); len(got) != 2 {
		t.Errorf("Query yields %d commits, want 2", len(got))
	}
	if got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0))); len(got) != 2 {
		t.Errorf("Scan yields %d commits, want 2", len(got))
	}
	items := snapshotItems(t, client, table, "a")
	if len(items) != 1 {
		t.Fatalf("%d snapshot items, want 1", len(items))
	}
	if _, err := s.DecodeItem(ctxT(t), items[0]); !errors.Is(err, eventstore.ErrNotCommit) {
		t.Errorf("DecodeItem of a snapshot = %v, want ErrNotCommit", err)
	}
	if _, err := eventstore.ParseImage(items[0]); !errors.Is(err, eventstore.ErrNotCommit) {
		t.Errorf("ParseImage of a snapshot = %v, want ErrNotCommit", err)
	}
	snap, err := s.DecodeSnapshot(ctxT(t), items[0])
	if err != nil || snap.Version != 1 || snap.Tag != "t" || string(snap.State) != "s" || snap.CommitID == first.CommitID || snap.CommitID == "" {
		t.Errorf("DecodeSnapshot = %+v, %v", snap, err)
	}
	if _, err := s.DecodeSnapshot(ctxT(t), nil); !errors.Is(err, eventstore.ErrNotCommit) {
		t.Errorf("DecodeSnapshot of no item = %v, want ErrNotCommit", err)
	}
}

// snapshotItems reads the raw items at the snapshot keys of an aggregate.
func snapshotItems(tb testing.TB, client *dynamodb.Client, table, id string) []map[string]types.AttributeValue {
	tb.Helper()
	out, err := client.Query(ctxT(tb), &dynamodb.QueryInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("aggregateId = :a AND version < :m"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberS{Value: id}, ":m": &types.AttributeValueMemberN{Value: "-1"},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Items
}
