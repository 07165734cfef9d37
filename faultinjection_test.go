package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

// Fault injection: many writers append through a client whose requests
// fail at a fixed rate in every way internal/faults knows; afterwards a
// clean client reads everything back and each Append's reported outcome
// must match what is stored, exactly once.

// The floor for CI: 5,000 appends from 16 goroutines over 200
// aggregates with 20% of requests failing; stress_test.go (-tags stress)
// raises the sizes.
var (
	fiAppends    = 5000
	fiWriters    = 16
	fiAggregates = 200
)

const (
	fiRate = 0.20
	// fiTimeout is the client's HTTP timeout; Slow faults hold responses
	// past it.
	fiTimeout = 500 * time.Millisecond
)

// outcome is what an Append reported.
type outcome int

const (
	outStored    outcome = iota // success
	outConflict                 // *VersionConflictError
	outNotStored                // ErrCommitDeadline: never stored
	outUnknown                  // any other error
	outcomeCount
)

var outcomeNames = [...]string{"stored", "conflict", "deadline (not stored)", "unknown"}

func classify(err error) outcome {
	var conflict *eventstore.VersionConflictError
	switch {
	case err == nil:
		return outStored
	case errors.As(err, &conflict):
		return outConflict
	case errors.Is(err, eventstore.ErrCommitDeadline):
		return outNotStored
	}
	return outUnknown
}

// appendTrace collects what the transport did to one Append's requests.
type appendTrace struct{ appliedUnseen atomic.Int64 } // PutItems applied, responses lost

type traceKey struct{}

// appendRecord is one Append as its caller saw it.
type appendRecord struct {
	commit        eventstore.Commit // as returned, with its CommitID
	first, final  outcome
	reruns        int
	appliedUnseen bool // a PutItem of it was applied but its response lost
	errs          []error
}

func TestFaultInjectionNothingLostOrDuplicated(t *testing.T) {
	t.Parallel()
	var on atomic.Bool // no faults while the table is created
	rate := faults.Rate(20260523, fiRate, nil)
	ft := &faults.Transport{
		Decide: func(op string) faults.Kind {
			if !on.Load() {
				return faults.None
			}
			return rate(op)
		},
		Delay: 2 * fiTimeout,
		Observe: func(req *http.Request, kind faults.Kind) {
			if tr, ok := req.Context().Value(traceKey{}).(*appendTrace); ok && faults.Op(req) == "PutItem" &&
				(kind == faults.LoseResponse || kind == faults.Slow) {
				tr.appliedUnseen.Add(1)
			}
		},
	}
	s, client, table := newStore(t, eventstore.Config{}, withHTTPClient(&http.Client{Transport: ft, Timeout: fiTimeout}), fastRetries)
	on.Store(true)
	start := time.Now()
	records := writeUnderFaults(t, s)
	writing := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}

	clean, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	views := queryAll(t, clean)
	checkOutcomes(t, records, views)
	stored := 0
	for _, view := range views {
		stored += len(view)
	}
	if n := countItems(t, client, table); n != stored {
		t.Errorf("the table holds %d commit items, the aggregates %d", n, stored)
	}
	checkScanEqualsQueries(t, collect(t, clean.Scan(ctxT(t), "", eventstore.WithSettle(0))), views)

	// Reading through the faults gives the same views: Query and Scan
	// retry failed pages; a reader that still sees an error resumes from
	// its checkpoint.
	faultyViews := queryAll(t, s)
	if diff := cmp.Diff(views, faultyViews); diff != "" {
		t.Errorf("Query through faults differs from a clean Query (-clean +faulty):\n%s", diff)
	}
	scanned, resumed := scanResuming(t, s)
	checkScanEqualsQueries(t, scanned, views)

	logCounts(t, records, ft.Stats(), stored, resumed, writing)
}

// withHTTPClient makes a client send its requests with hc.
func withHTTPClient(hc *http.Client) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) { o.HTTPClient = hc }
}

// writeUnderFaults runs fiAppends Appends from fiWriters goroutines, each
// Append at the version its writer believes is next (sometimes a stale
// one), re-running an Append whose outcome is unknown until it settles.
func writeUnderFaults(t *testing.T, s *eventstore.Store) []*appendRecord {
	var (
		mu      sync.Mutex
		next    = make([]int64, fiAggregates) // the writers' shared belief
		records []*appendRecord
		issued  atomic.Int64
		wg      sync.WaitGroup
	)
	for w := range fiWriters {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 5))
			for n := issued.Add(1); n <= int64(fiAppends); n = issued.Add(1) {
				a := r.IntN(fiAggregates)
				mu.Lock()
				v := next[a]
				mu.Unlock()
				if v > 0 && r.IntN(20) == 0 {
					v-- // stale: someone else's commit holds it
				}
				rec := appendOnce(t, s, eventstore.Commit{
					AggregateID: fmt.Sprintf("agg-%03d", a), Version: v,
					Events:   []eventstore.Event{event("deposited", int(n)), event("noted", w)},
					Metadata: map[string]string{"writer": fmt.Sprint(w)},
				})
				if rec.final == outStored || rec.final == outConflict {
					mu.Lock()
					next[a] = max(next[a], v+1)
					mu.Unlock()
				}
				mu.Lock()
				records = append(records, rec)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return records
}

// appendOnce appends c and, while the outcome is unknown, appends the
// returned Commit again (same CommitID), as README tells callers to.
func appendOnce(t *testing.T, s *eventstore.Store, c eventstore.Commit) *appendRecord {
	tr := &appendTrace{}
	ctx := context.WithValue(ctxT(t), traceKey{}, tr)
	stored, err := s.Append(ctx, c)
	rec := &appendRecord{commit: stored, first: classify(err), final: classify(err)}
	for rec.final == outUnknown {
		rec.errs = append(rec.errs, err)
		if !(strings.Contains(err.Error(), "outcome unknown") || strings.Contains(err.Error(), "not stored")) || !strings.Contains(err.Error(), stored.CommitID) {
			t.Errorf("Append error %q does not say that the outcome of commit %s is unknown", err, stored.CommitID)
		}
		if !errors.Is(err, eventstore.ErrOutcomeUnknown) {
			t.Errorf("Append error %q does not match ErrOutcomeUnknown", err)
		}
		if rec.reruns == 100 {
			t.Errorf("Append %s v%d still unknown after %d re-runs: %v", c.AggregateID, c.Version, rec.reruns, rec.errs)
			break
		}
		rec.reruns++
		var again eventstore.Commit
		again, err = s.Append(ctx, stored)
		if again.CommitID != stored.CommitID {
			t.Errorf("re-run of commit %s returned CommitID %s", stored.CommitID, again.CommitID)
		}
		rec.final = classify(err)
	}
	rec.appliedUnseen = tr.appliedUnseen.Load() > 0
	return rec
}

// queryAll reads every aggregate, checking that versions run from 0 with
// no gap.
func queryAll(t *testing.T, s *eventstore.Store) map[string][]eventstore.Commit {
	t.Helper()
	views := map[string][]eventstore.Commit{}
	for a := range fiAggregates {
		agg := fmt.Sprintf("agg-%03d", a)
		_, commits, err := queryIDs(ctxT(t), s, agg, 0)
		if err != nil {
			t.Fatalf("Query %s: %v", agg, err)
		}
		if len(commits) > 0 {
			views[agg] = commits
		}
	}
	return views
}

// checkOutcomes checks each Append's final outcome against the views:
// success stored exactly once, intact, where it said; conflict and
// deadline nowhere; and nothing stored that no Append reported.
func checkOutcomes(t *testing.T, records []*appendRecord, views map[string][]eventstore.Commit) {
	t.Helper()
	where := map[string]eventstore.Commit{}
	for _, view := range views {
		for _, c := range view {
			if _, dup := where[c.CommitID]; dup {
				t.Errorf("commit %s stored twice", c.CommitID)
			}
			where[c.CommitID] = c
		}
	}
	reported := 0
	for _, rec := range records {
		got, ok := where[rec.commit.CommitID]
		switch rec.final {
		case outStored:
			reported++
			if !ok {
				t.Errorf("Append of %s v%d succeeded, but commit %s is not stored", rec.commit.AggregateID, rec.commit.Version, rec.commit.CommitID)
			} else if diff := cmp.Diff(rec.commit, got); diff != "" {
				t.Errorf("commit %s stored differs (-appended +stored):\n%s", rec.commit.CommitID, diff)
			}
		case outConflict, outNotStored:
			if ok {
				t.Errorf("Append of %s v%d reported %s, but commit %s is stored at v%d",
					rec.commit.AggregateID, rec.commit.Version, outcomeNames[rec.final], rec.commit.CommitID, got.Version)
			}
		}
	}
	if reported != len(where) {
		t.Errorf("%d Appends succeeded, %d commits are stored", reported, len(where))
	}
}

// checkScanEqualsQueries checks that a scan yielded the union of the
// Query views, each commit once, in strictly increasing CommitID order.
func checkScanEqualsQueries(t *testing.T, scanned []eventstore.Commit, views map[string][]eventstore.Commit) {
	t.Helper()
	var union []eventstore.Commit
	for _, view := range views {
		union = append(union, view...)
	}
	slices.SortFunc(union, func(a, b eventstore.Commit) int { return compareIDs(a.CommitID, b.CommitID) })
	for i := 1; i < len(scanned); i++ {
		if scanned[i-1].CommitID >= scanned[i].CommitID {
			t.Fatalf("scan not in strictly increasing CommitID order at %d", i)
		}
	}
	if diff := cmp.Diff(union, scanned); diff != "" {
		t.Errorf("scan differs from the union of the Query views (-queries +scan):\n%s", diff)
	}
}

// scanResuming scans through the faults; on an error it scans again from
// the last commit it got, as a relay would. It returns what it read and
// how many times it resumed.
func scanResuming(t *testing.T, s *eventstore.Store) ([]eventstore.Commit, int) {
	t.Helper()
	var out []eventstore.Commit
	checkpoint, resumed := "", 0
	for {
		var failed error
		for c, err := range s.Scan(ctxT(t), checkpoint, eventstore.WithSettle(0)) {
			if err != nil {
				failed = err
				break
			}
			out = append(out, c)
			checkpoint = c.CommitID
		}
		if failed == nil {
			return out, resumed
		}
		if resumed++; resumed > 20 {
			t.Fatalf("scan through faults failed %d times, last: %v", resumed, failed)
		}
	}
}

func logCounts(t *testing.T, records []*appendRecord, st faults.Stats, stored, resumed int, writing time.Duration) {
	t.Helper()
	var first, final [outcomeCount]int
	reruns, idempotent := 0, 0
	settled := map[string]int{}
	for _, rec := range records {
		first[rec.first]++
		final[rec.final]++
		reruns += rec.reruns
		if rec.first == outUnknown {
			settled[outcomeNames[rec.final]]++
		}
		if rec.final == outStored && rec.appliedUnseen {
			idempotent++
		}
	}
	t.Logf("%d appends from %d goroutines over %d aggregates in %v, %d stored", len(records), fiWriters, fiAggregates,
		writing.Round(time.Millisecond), stored)
	t.Logf("transport: %v", st)
	t.Logf("first outcome: stored %d, conflict %d, deadline %d, unknown %d; unknown settled by %d re-runs as %v",
		first[outStored], first[outConflict], first[outNotStored], first[outUnknown], reruns, settled)
	t.Logf("final outcome: stored %d (%d of them after a PutItem applied with its response lost), conflict %d, deadline %d; scan through faults resumed %d times",
		final[outStored], idempotent, final[outConflict], final[outNotStored], resumed)
	if len(records) != fiAppends || first[outUnknown] == 0 || idempotent == 0 || final[outConflict] == 0 {
		t.Errorf("the run did not exercise what it should: %d appends, %d unknown, %d idempotent, %d conflicts",
			len(records), first[outUnknown], idempotent, final[outConflict])
	}
	if st.Injected() < st.Total()*15/100 {
		t.Errorf("%d faults in %d requests, want about %.0f%%", st.Injected(), st.Total(), fiRate*100)
	}
}
