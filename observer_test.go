package eventstore_test

import (
	"crypto/rand"
	"errors"
	"iter"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

// one returns the single observation of op, failing the test otherwise.
func one(tb testing.TB, seen *observations, op eventstore.Op) eventstore.Observation {
	tb.Helper()
	obs := seen.take(op)
	if len(obs) != 1 {
		tb.Fatalf("%d observations of %s, want 1: %+v", len(obs), op, obs)
	}
	return obs[0]
}

func TestObserverSeesEveryWriteOutcome(t *testing.T) {
	t.Parallel()
	var seen observations
	var throttle atomic.Bool
	ft := &faults.Transport{Decide: func(op string) faults.Kind {
		if op == "PutItem" && throttle.CompareAndSwap(true, false) {
			return faults.Throttle
		}
		return faults.None
	}}
	s, _, _ := newStore(t, eventstore.Config{Observer: &seen}, viaTransport(ft))
	if o := one(t, &seen, eventstore.OpCreateTable); o.Requests < 3 || o.Err != nil {
		t.Errorf("CreateTable observed %+v, want CreateTable, DescribeTable and the shard count's requests", o)
	}

	c := mustAppend(t, s, commit("a", 0))
	o := one(t, &seen, eventstore.OpAppend)
	if o.Requests != 1 || o.Retries != 0 || o.WriteUnits <= 0 || o.Commits != 1 || o.Duration <= 0 || o.Err != nil {
		t.Errorf("Append observed %+v, want one request, write units, one commit", o)
	}

	throttle.Store(true)
	mustAppend(t, s, commit("a", 1))
	if o := one(t, &seen, eventstore.OpAppend); o.Requests != 1 || o.Retries != 1 || o.Commits != 1 {
		t.Errorf("throttled Append observed %+v, want one request retried once", o)
	}

	mustAppend(t, s, c) // the caller's retry of a stored commit
	if o := one(t, &seen, eventstore.OpAppend); o.Duplicates != 1 || o.Conflicts != 0 || o.Commits != 1 || o.Err != nil {
		t.Errorf("retried Append observed %+v, want a duplicate recognised", o)
	}

	_, err := s.Append(ctxT(t), commit("a", 0))
	if o := one(t, &seen, eventstore.OpAppend); o.Conflicts != 1 || o.Commits != 0 || !errors.Is(o.Err, eventstore.ErrVersionConflict) || o.Err != err {
		t.Errorf("conflicting Append observed %+v, want a conflict and its error", o)
	}

	old := commit("b", 0)
	old.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
	s.Append(ctxT(t), old)
	if o := one(t, &seen, eventstore.OpAppend); o.LateRefusals != 1 || o.Requests != 1 || o.WriteUnits <= 0 || !errors.Is(o.Err, eventstore.ErrCommitDeadline) {
		t.Errorf("late Append observed %+v, want a late refusal after one fencing update", o)
	}

	if _, err := s.AppendAll(ctxT(t), commit("c", 0), commit("d", 0)); err != nil {
		t.Fatal(err)
	}
	if o := one(t, &seen, eventstore.OpAppendAll); o.Requests != 1 || o.Commits != 2 || o.WriteUnits <= 0 {
		t.Errorf("AppendAll observed %+v, want one request storing 2 commits", o)
	}

	if _, err := s.AppendNext(ctxT(t), commit("a", 0)); err != nil {
		t.Fatal(err)
	}
	if o := one(t, &seen, eventstore.OpAppendNext); o.Requests != 2 || o.ReadUnits <= 0 || o.WriteUnits <= 0 || o.Commits != 1 {
		t.Errorf("AppendNext observed %+v, want a read and a write", o)
	}
	if _, err := s.AppendNew(ctxT(t), commit("a", 0)); !errors.Is(err, eventstore.ErrAggregateExists) {
		t.Fatal(err)
	}
	if o := one(t, &seen, eventstore.OpAppendNew); o.Requests != 1 || o.Conflicts != 1 || o.Commits != 0 {
		t.Errorf("AppendNew of an existing aggregate observed %+v, want one read and a conflict", o)
	}
}

func TestObserverSeesReads(t *testing.T) {
	t.Parallel()
	var seen observations
	s, _, _ := newStore(t, eventstore.Config{Observer: &seen, AggregatesIndex: eventstore.DefaultAggregatesIndex, ScanShards: 2})
	for _, id := range []string{"a", "b", "c"} {
		mustAppend(t, s, commit(id, 0))
	}
	seen.take("")

	if v, err := s.LatestVersion(ctxT(t), "a"); err != nil || v != 0 {
		t.Fatal(v, err)
	}
	if o := one(t, &seen, eventstore.OpLatestVersion); o.Requests != 1 || o.ReadUnits <= 0 {
		t.Errorf("LatestVersion observed %+v, want one read", o)
	}

	collect(t, s.Query(ctxT(t), "a", 0))
	if o := one(t, &seen, eventstore.OpQuery); o.Requests != 1 || o.ReadUnits <= 0 {
		t.Errorf("Query observed %+v, want its page read", o)
	}

	time.Sleep(5 * time.Millisecond) // so that the newest commit is measurably old
	collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	pages := seen.take(eventstore.OpScan)
	if len(pages) != 6 {
		t.Fatalf("Scan observed %d pages, want one per shard and two probes per shard (probe.go): %+v", len(pages), pages)
	}
	lagged := 0
	for _, o := range pages {
		if o.Requests != 1 || o.ScanLag != 0 && (o.ScanLag < 5*time.Millisecond || o.ScanLag > time.Minute) {
			t.Errorf("Scan page observed %+v, want one request and the lag of its newest commit", o)
		}
		if o.ScanLag > 0 {
			lagged++
		}
	}
	if lagged == 0 {
		t.Error("no Scan page reported a lag")
	}

	ids := 0
	for range s.Aggregates(ctxT(t)) {
		ids++
	}
	if o := one(t, &seen, eventstore.OpAggregates); o.Requests != 2 || o.Commits != ids || ids != 3 {
		t.Errorf("Aggregates observed %+v, want one query per shard and the 3 ids", o)
	}
}

// TestObserverNamesWhatItObserves: an observation says which table, and for
// a write of one commit which commit (aggregate, version, CommitID), for a
// read of one aggregate which aggregate, and how many attempts DynamoDB
// throttled, so that a trace or a metric can be filtered by them.
func TestObserverNamesWhatItObserves(t *testing.T) {
	t.Parallel()
	var seen observations
	var throttle atomic.Bool
	ft := &faults.Transport{Decide: func(op string) faults.Kind {
		if op == "PutItem" && throttle.CompareAndSwap(true, false) {
			return faults.Throttle
		}
		return faults.None
	}}
	s, _, table := newStore(t, eventstore.Config{Observer: &seen}, viaTransport(ft))
	seen.take("")

	throttle.Store(true)
	c := mustAppend(t, s, commit("a", 0))
	o := one(t, &seen, eventstore.OpAppend)
	if o.Table != table || o.AggregateID != "a" || o.Version != 0 || o.CommitID != c.CommitID || o.Throttles != 1 || o.Retries != 1 {
		t.Errorf("Append observed %+v, want table %s, commit a v0 %s and one throttled attempt", o, table, c.CommitID)
	}
	next, err := s.AppendNext(ctxT(t), commit("a", 0))
	if err != nil {
		t.Fatal(err)
	}
	if o := one(t, &seen, eventstore.OpAppendNext); o.AggregateID != "a" || o.Version != 1 || o.CommitID != next.CommitID || o.Throttles != 0 {
		t.Errorf("AppendNext observed %+v, want the commit it stored, a v1 %s", o, next.CommitID)
	}
	s.Append(ctxT(t), commit("a", 1))
	if o := one(t, &seen, eventstore.OpAppend); o.AggregateID != "a" || o.Version != 1 || o.CommitID == "" || o.Conflicts != 1 {
		t.Errorf("conflicting Append observed %+v, want the commit refused, a v1", o)
	}
	if _, err := s.Append(ctxT(t), eventstore.Commit{}); err == nil {
		t.Fatal("empty commit appended")
	}
	if o := one(t, &seen, eventstore.OpAppend); o.Table != table || o.AggregateID != "" || o.CommitID != "" {
		t.Errorf("invalid Append observed %+v, want the table and no commit (none was sent)", o)
	}

	collect(t, s.Query(ctxT(t), "a", 0))
	if o := one(t, &seen, eventstore.OpQuery); o.Table != table || o.AggregateID != "a" || o.CommitID != "" {
		t.Errorf("Query observed %+v, want table %s and aggregate a", o, table)
	}
	if _, err := s.LatestVersion(ctxT(t), "a"); err != nil {
		t.Fatal(err)
	}
	if o := one(t, &seen, eventstore.OpLatestVersion); o.Table != table || o.AggregateID != "a" {
		t.Errorf("LatestVersion observed %+v, want table %s and aggregate a", o, table)
	}
	collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	for _, o := range seen.take(eventstore.OpScan) {
		if o.Table != table || o.AggregateID != "" {
			t.Errorf("Scan page observed %+v, want table %s and no aggregate", o, table)
		}
	}
}

// Update reports one observation per call: the aggregate, the commit it
// stored, its load's requests, and the attempts and conflicts its loop
// met (each Append it made is reported too).
func TestObserverSeesUpdate(t *testing.T) {
	t.Parallel()
	var seen observations
	s, _, _ := newStore(t, eventstore.Config{Observer: &seen})
	mustAppend(t, s, commit("u", 0))
	first := true
	c, err := s.Update(ctxT(t), "u", func(history iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		if first { // another writer takes the version this decision is for
			first = false
			mustAppend(t, s, commit("u", 1))
		}
		return []eventstore.Event{event("updated", 1)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o := one(t, &seen, eventstore.OpUpdate)
	if o.AggregateID != "u" || o.Version != c.Version || o.CommitID != c.CommitID || o.Commits != 1 ||
		o.Retries != 1 || o.Conflicts != 1 || o.Requests < 2 || o.Err != nil {
		t.Errorf("Update observed %+v, want aggregate u, the commit stored (v%d), its two loads, one retry after one conflict", o, c.Version)
	}
}
