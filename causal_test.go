package eventstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// skewedStores returns stores on one fresh table whose clocks are offset
// from the real one by each of offsets.
func skewedStores(tb testing.TB, cfg eventstore.Config, offsets ...time.Duration) ([]*eventstore.Store, *dynamodb.Client, string) {
	tb.Helper()
	client := dynamotest.Client(tb)
	cfg.Table = dynamotest.TableName(tb, client)
	stores := make([]*eventstore.Store, len(offsets))
	for i, off := range offsets {
		s, err := eventstore.New(client, eventstore.WithClock(cfg, func() time.Time { return time.Now().Add(off) }))
		if err != nil {
			tb.Fatal(err)
		}
		if i == 0 {
			if err := s.CreateTable(ctxT(tb)); err != nil {
				tb.Fatal(err)
			}
		}
		stores[i] = s
	}
	return stores, client, cfg.Table
}

func prevAttr(item map[string]types.AttributeValue) string {
	if s, ok := item["prev"].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// A writer whose clock is 2 s behind the writer of version n-1 still gives
// version n a greater CommitID, and every item at version > 0 records its
// predecessor's CommitID in prev, whichever append wrote it.
func TestCausalCommitIDsAndPrev(t *testing.T) {
	t.Parallel()
	stores, client, table := skewedStores(t, eventstore.Config{}, time.Second, -time.Second)
	ahead, behind := stores[0], stores[1]
	ctx := ctxT(t)
	start := time.Now()
	c0 := mustAppend(t, ahead, commit("a", 0))
	c1 := mustAppend(t, behind, commit("a", 1))
	c2, err := behind.AppendNext(ctx, commit("a", 0))
	if err != nil {
		t.Fatal(err)
	}
	c3 := mustAppend(t, ahead, commit("a", 3))
	all, err := behind.AppendAll(ctx, commit("a", 5), commit("a", 4))
	if err != nil {
		t.Fatal(err)
	}
	chain := []eventstore.Commit{c0, c1, c2, c3, all[1], all[0]}
	for i, c := range chain {
		if c.Version != int64(i) {
			t.Fatalf("commit %d has version %d", i, c.Version)
		}
		item := rawItem(t, client, table, "a", int64(i))
		if i == 0 {
			if _, ok := item["prev"]; ok {
				t.Errorf("version 0 has a prev attribute: %v", item["prev"])
			}
			continue
		}
		if c.CommitID <= chain[i-1].CommitID {
			t.Errorf("version %d: commit id %s not greater than version %d's %s", i, c.CommitID, i-1, chain[i-1].CommitID)
		}
		if got := prevAttr(item); got != chain[i-1].CommitID {
			t.Errorf("version %d: prev = %q, want %s", i, got, chain[i-1].CommitID)
		}
		if !c.CommittedAt.Equal(ulidTime(t, c.CommitID)) {
			t.Errorf("version %d: CommittedAt %v is not its CommitID's time", i, c.CommittedAt)
		}
	}
	// The store behind really was behind: its own clock would have given smaller ids.
	if lag := c0.CommittedAt.Sub(start); lag < 500*time.Millisecond {
		t.Errorf("the store ahead stamped version 0 only %v ahead", lag)
	}
	got := collect(t, behind.Query(ctx, "a", 0))
	if len(got) != len(chain) {
		t.Fatalf("Query read %d commits, want %d", len(got), len(chain))
	}
}

func ulidTime(tb testing.TB, id string) time.Time {
	tb.Helper()
	u, err := ulid.ParseStrict(id)
	if err != nil {
		tb.Fatal(err)
	}
	return ulid.Time(u.Time())
}

// Version gaps are refused with a *VersionGapError naming the next
// version, which is not a version conflict, and nothing is written:
// with the cache cold (a new Store) and warm, for Append and AppendAll.
func TestVersionGapRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	mustAppend(t, s, commit("g", 0))
	mustAppend(t, s, commit("g", 1))
	cold, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, aggregateID string, version, expected int64) {
		t.Helper()
		var gap *eventstore.VersionGapError
		switch {
		case !errors.As(err, &gap):
			t.Errorf("%s: err = %v, want a *VersionGapError", name, err)
		case !errors.Is(err, eventstore.ErrVersionGap) || errors.Is(err, eventstore.ErrVersionConflict):
			t.Errorf("%s: %v must match ErrVersionGap and not ErrVersionConflict", name, err)
		case gap.AggregateID != aggregateID || gap.Version != version || gap.Expected != expected:
			t.Errorf("%s: %+v, want version %d expected %d", name, *gap, version, expected)
		}
	}
	for name, st := range map[string]*eventstore.Store{"warm": s, "cold": cold} {
		_, err := st.Append(ctx, commit("g", 3))
		check(name+" Append", err, "g", 3, 2)
		_, err = st.Append(ctx, commit("new", 1))
		check(name+" Append new aggregate", err, "new", 1, 0)
		_, err = st.AppendAll(ctx, commit("h", 0), commit("g", 4))
		check(name+" AppendAll", err, "g", 4, 2)
		_, err = st.AppendAll(ctx, commit("g", 2), commit("g", 4))
		check(name+" AppendAll inner gap", err, "g", 4, 3)
	}
	if n := countItems(t, client, table); n != 2 {
		t.Errorf("the table holds %d commits, want 2", n)
	}
	if v, err := cold.LatestVersion(ctx, "g"); err != nil || v != 1 {
		t.Errorf("LatestVersion = %d, %v; want 1", v, err)
	}
}

// An item whose prev attribute is malformed or does not precede its own
// CommitID is corrupt, an error naming it, never a panic.
func TestCorruptPrevRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	c0 := mustAppend(t, s, commit("p", 0))
	c1 := mustAppend(t, s, commit("p", 1))
	for name, prev := range map[string]types.AttributeValue{
		"not a ULID":      &types.AttributeValueMemberS{Value: "nope"},
		"not a string":    &types.AttributeValueMemberN{Value: "1"},
		"its own id":      &types.AttributeValueMemberS{Value: c1.CommitID},
		"a later id":      &types.AttributeValueMemberS{Value: ulid.Make().String()},
		"valid (control)": &types.AttributeValueMemberS{Value: c0.CommitID},
	} {
		item := rawItem(t, client, table, "p", 1)
		item["prev"] = prev
		if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
		var err error
		for _, err = range s.Query(ctxT(t), "p", 1) {
			break
		}
		if valid := name == "valid (control)"; valid != (err == nil) || (!valid && !errors.Is(err, eventstore.ErrCorruptCommit)) {
			t.Errorf("%s: Query = %v", name, err)
		}
	}
}

// Load, decide, append stays one request per commit: after Query (or
// LatestVersion, or its own Append) the Store knows version n-1; a Store
// that has not seen it reads it with one GetItem. AppendNext needs none
// beyond its latest-version Query.
func TestPredecessorRequests(t *testing.T) {
	t.Parallel()
	obs := &observations{}
	s, client, table := newStore(t, eventstore.Config{Observer: obs})
	other, err := eventstore.New(client, eventstore.Config{Table: table, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	mustAppend(t, other, commit("warm-up", 0)) // other's metadata check
	mustAppend(t, s, commit("r", 0))
	obs.take(eventstore.OpAppend)
	mustAppend(t, s, commit("r", 1)) // its own append: warm
	if o := one(t, obs, eventstore.OpAppend); o.Requests != 1 {
		t.Errorf("warm Append after its own: %d requests, want 1", o.Requests)
	}
	mustAppend(t, other, commit("r", 2)) // other has not seen version 1: cold
	if o := one(t, obs, eventstore.OpAppend); o.Requests != 2 {
		t.Errorf("cold Append: %d requests, want 2 (GetItem, PutItem)", o.Requests)
	}
	collect(t, s.Query(ctx, "r", 0)) // s learns version 2
	obs.take(eventstore.OpQuery)
	mustAppend(t, s, commit("r", 3))
	if o := one(t, obs, eventstore.OpAppend); o.Requests != 1 {
		t.Errorf("Append after Query: %d requests, want 1", o.Requests)
	}
	if _, err := other.AppendNext(ctx, commit("r", 0)); err != nil {
		t.Fatal(err)
	}
	if o := one(t, obs, eventstore.OpAppendNext); o.Requests != 2 {
		t.Errorf("AppendNext: %d requests, want 2 (Query, PutItem)", o.Requests)
	}
}
