package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

// Linearizability: clients race Appends (at the version they believe is
// next, or a stale one) and Queries on a few hot aggregates; every history
// of calls and returns must be explainable by a sequential per-aggregate
// commit log, checked with porcupine.

// linInput is an operation: an Append of CommitID at Version, or a Query
// from Version.
type linInput struct {
	Query    bool
	Agg      string
	Version  int64
	CommitID string
}

type linKind int

const (
	linOK       linKind = iota // the Append succeeded
	linConflict                // *VersionConflictError naming Holder
	linRead                    // the Query yielded IDs
)

type linOutput struct {
	Kind   linKind
	Holder string
	IDs    string // the CommitIDs a Query yielded, concatenated
}

const idLen = 26 // a CommitID's length

// commitLogModel is the sequential specification: per aggregate, the log of
// CommitIDs (concatenated, so states compare with ==). An Append succeeds
// iff its version is the next one; a conflict names the commit at its
// version; a Query from v sees exactly the log from v on.
var commitLogModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byAgg := map[string][]porcupine.Operation{}
		for _, op := range history {
			agg := op.Input.(linInput).Agg
			byAgg[agg] = append(byAgg[agg], op)
		}
		out := make([][]porcupine.Operation, 0, len(byAgg))
		for _, ops := range byAgg {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		log, in, out := state.(string), input.(linInput), output.(linOutput)
		n := int64(len(log) / idLen)
		switch {
		case in.Query:
			return out.Kind == linRead && out.IDs == log[min(in.Version, n)*idLen:], log
		case out.Kind == linOK && in.Version == n:
			return true, log + in.CommitID
		case out.Kind == linConflict && in.Version < n:
			return log[in.Version*idLen:(in.Version+1)*idLen] == out.Holder, log
		}
		return false, log
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if in.Query {
			return fmt.Sprintf("query(%s, from %d) -> %s", in.Agg, in.Version, shortIDs(out.IDs))
		}
		res := "ok"
		if out.Kind == linConflict {
			res = "conflict, held by " + shortIDs(out.Holder)
		}
		return fmt.Sprintf("append(%s, v%d, %s) -> %s", in.Agg, in.Version, shortIDs(in.CommitID), res)
	},
	DescribeState: func(state any) string { return "[" + shortIDs(state.(string)) + "]" },
}

// shortIDs shows the random tail of each CommitID, enough to tell them apart.
func shortIDs(ids string) string {
	var parts []string
	for i := 0; i+idLen <= len(ids); i += idLen {
		parts = append(parts, ids[i+idLen-6:i+idLen])
	}
	return strings.Join(parts, " ")
}

// checkLinearizable fails t, writing porcupine's visualisation to a file it
// names, unless history is linearizable.
func checkLinearizable(t *testing.T, name string, history []porcupine.Operation) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(commitLogModel, history, time.Minute)
	if res == porcupine.Ok {
		return
	}
	f, err := os.CreateTemp("", "eventstore-linearizability-"+name+"-*.html")
	if err == nil {
		err = porcupine.Visualize(commitLogModel, info, f)
		f.Close()
	}
	if err != nil {
		t.Fatalf("history %s: %v (and writing the visualisation failed: %v)", name, res, err)
	}
	t.Fatalf("history %s of %d operations: %v; visualisation: %s", name, len(history), res, f.Name())
}

// The checker itself must reject what a broken store could do, or the
// histories below would prove nothing.
func TestLinearizabilityModelRejectsViolations(t *testing.T) {
	t.Parallel()
	a, b := strings.Repeat("A", idLen), strings.Repeat("B", idLen)
	app := func(client int, call, ret, v int64, id string, out linOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: linInput{Agg: "x", Version: v, CommitID: id}, Output: out}
	}
	read := func(client int, call, ret, from int64, ids string) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret,
			Input: linInput{Query: true, Agg: "x", Version: from}, Output: linOutput{Kind: linRead, IDs: ids}}
	}
	ok := linOutput{Kind: linOK}
	tests := []struct {
		name    string
		history []porcupine.Operation
		legal   bool
	}{
		{"racing appends, one wins", []porcupine.Operation{
			app(0, 0, 10, 0, a, ok), app(1, 1, 9, 0, b, linOutput{Kind: linConflict, Holder: a}), read(2, 2, 8, 0, a)}, true},
		{"two winners of one version", []porcupine.Operation{app(0, 0, 10, 0, a, ok), app(1, 1, 9, 0, b, ok)}, false},
		{"a read misses a completed append", []porcupine.Operation{app(0, 0, 1, 0, a, ok), read(1, 2, 3, 0, "")}, false},
		{"a read sees an append before it began", []porcupine.Operation{read(1, 0, 1, 0, a), app(0, 2, 3, 0, a, ok)}, false},
		{"a conflict names the wrong holder", []porcupine.Operation{
			app(0, 0, 1, 0, a, ok), app(1, 2, 3, 0, b, linOutput{Kind: linConflict, Holder: b})}, false},
		{"a conflict on a free version", []porcupine.Operation{app(1, 0, 1, 0, b, linOutput{Kind: linConflict, Holder: a})}, false},
		{"an append past the end", []porcupine.Operation{app(0, 0, 1, 1, a, ok)}, false},
		{"a read from the middle", []porcupine.Operation{app(0, 0, 1, 0, a, ok), app(0, 2, 3, 1, b, ok), read(1, 4, 5, 1, b)}, true},
	}
	for _, tt := range tests {
		if got := porcupine.CheckOperations(commitLogModel, tt.history); got != tt.legal {
			t.Errorf("%s: linearizable = %v, want %v", tt.name, got, tt.legal)
		}
	}
}

// Linearizability sizes: the floor for CI is 50 histories of 8
// clients; stress_test.go (-tags stress) raises them.
var (
	linHistories    = 50
	linClients      = 8
	linOpsPerClient = 24
	linAggregates   = 2
)

// fastRetries keeps the SDK's retries but without long backoff or the
// retry quota, so tests under injected faults finish quickly.
func fastRetries(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.MaxBackoff = 20 * time.Millisecond
		so.RateLimiter = ratelimit.None
	})
}

func TestLinearizableUnderRaces(t *testing.T) {
	t.Parallel()
	// Odd histories run with 5% of requests failing (lost responses,
	// resets, 500s, throttling), so SDK retries and idempotent successes
	// are part of what is checked.
	none := func(string) faults.Kind { return faults.None }
	var decide atomic.Pointer[func(string) faults.Kind]
	decide.Store(&none)
	ft := &faults.Transport{Decide: func(op string) faults.Kind { return (*decide.Load())(op) }}
	s, client, table := newStore(t, eventstore.Config{}, withTransport(ft), fastRetries)
	verifier, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	var ops, appends, conflicts, unknown, queries int
	for h := range linHistories {
		decide.Store(&none)
		if h%2 == 1 {
			rate := faults.Rate(uint64(h), 0.05, []faults.Kind{faults.LoseResponse, faults.ResetBeforeSend, faults.InternalError, faults.Throttle})
			decide.Store(&rate)
		}
		r := runHistory(t, s, verifier, h)
		checkLinearizable(t, fmt.Sprint(h), r.history)
		ops += len(r.history)
		appends += r.appends
		conflicts += r.conflicts
		unknown += r.unknown
		queries += r.queries
	}
	t.Logf("%d histories of %d clients, %d operations: %d appends succeeded, %d conflicts, %d queries, %d outcomes unknown then resolved; 0 violations; transport: %v",
		linHistories, linClients, ops, appends, conflicts, queries, unknown, ft.Stats())
	if conflicts == 0 || appends == 0 {
		t.Errorf("no race: %d appends succeeded, %d conflicts", appends, conflicts)
	}
}

type historyResult struct {
	history                              []porcupine.Operation
	appends, conflicts, unknown, queries int
}

// runHistory runs linClients clients against fresh aggregates and returns
// the history, with each Append whose outcome was unknown settled by a read
// afterwards.
func runHistory(t *testing.T, s, verifier *eventstore.Store, h int) historyResult {
	t.Helper()
	aggs := make([]string, linAggregates)
	for i := range aggs {
		aggs[i] = fmt.Sprintf("h%02d-hot%d", h, i)
	}
	var (
		mu      sync.Mutex
		res     historyResult
		sent    = map[string]eventstore.Commit{} // by CommitID
		pending []porcupine.Operation            // outcome unknown
		refused []linInput                       // ErrCommitDeadline
		wg      sync.WaitGroup
	)
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	record := func(op porcupine.Operation) {
		mu.Lock()
		defer mu.Unlock()
		res.history = append(res.history, op)
	}
	for client := range linClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(h), uint64(client)))
			known := map[string]int64{} // the next version as far as this client knows
			for i := range linOpsPerClient {
				agg := aggs[r.IntN(len(aggs))]
				if r.IntN(3) == 0 {
					from := int64(0)
					if r.IntN(2) == 0 {
						from = r.Int64N(known[agg] + 1)
					}
					call := now()
					ids, commits, err := queryIDs(context.Background(), s, agg, from)
					ret := now()
					if err != nil {
						t.Errorf("history %d: Query(%s, %d): %v", h, agg, from, err)
						return
					}
					checkContents(t, &mu, sent, commits)
					known[agg] = max(known[agg], from+int64(len(ids)/idLen))
					record(porcupine.Operation{ClientId: client, Call: call, Return: ret,
						Input: linInput{Query: true, Agg: agg, Version: from}, Output: linOutput{Kind: linRead, IDs: ids}})
					mu.Lock()
					res.queries++
					mu.Unlock()
					continue
				}
				v := max(known[agg]-[]int64{0, 0, 0, 1, 1, 2}[r.IntN(6)], 0) // some stale
				c := commit(agg, v, event("op", client*1000+i))
				call := now()
				stored, err := s.Append(context.Background(), c)
				ret := now()
				mu.Lock()
				sent[stored.CommitID] = stored
				mu.Unlock()
				in := linInput{Agg: agg, Version: v, CommitID: stored.CommitID}
				var conflict *eventstore.VersionConflictError
				switch {
				case err == nil:
					known[agg] = max(known[agg], v+1)
					record(porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: linOutput{Kind: linOK}})
				case errors.As(err, &conflict):
					known[agg] = max(known[agg], v+1)
					record(porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in,
						Output: linOutput{Kind: linConflict, Holder: conflict.CommitID}})
				case errors.Is(err, eventstore.ErrCommitDeadline): // not stored: no effect, checked below
					mu.Lock()
					refused = append(refused, in)
					mu.Unlock()
				case isDefinite(err):
					t.Errorf("history %d: Append(%s v%d): %v", h, agg, v, err)
					return
				default: // outcome unknown: settled below
					mu.Lock()
					pending = append(pending, porcupine.Operation{ClientId: client, Call: call, Input: in})
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.history = append(res.history, settleUnknown(t, verifier, pending)...)
	for _, in := range refused {
		if ids, _, err := queryIDs(ctxT(t), verifier, in.Agg, in.Version); err != nil || strings.Contains(ids, in.CommitID) {
			t.Errorf("history %d: Append(%s v%d) reported ErrCommitDeadline, yet commit %s is stored (or the read failed: %v)",
				h, in.Agg, in.Version, in.CommitID, err)
		}
	}
	for _, agg := range aggs { // every stored commit is one that was sent, intact
		_, commits, err := queryIDs(ctxT(t), verifier, agg, 0)
		if err != nil {
			t.Fatalf("history %d: %v", h, err)
		}
		for _, c := range commits {
			if _, ok := sent[c.CommitID]; !ok {
				t.Errorf("history %d: %s v%d holds commit %s, which no client sent", h, agg, c.Version, c.CommitID)
			}
		}
		checkContents(t, &mu, sent, commits)
	}
	for _, op := range res.history {
		switch in, out := op.Input.(linInput), op.Output.(linOutput); {
		case in.Query:
		case out.Kind == linOK:
			res.appends++
		case out.Kind == linConflict:
			res.conflicts++
		}
	}
	res.unknown = len(pending)
	return res
}

// isDefinite reports an Append error other than a conflict that settles
// the outcome: bad input, a missed writer deadline (not stored), a
// notification failure (stored).
func isDefinite(err error) bool {
	var notify *eventstore.NotifyError
	return errors.As(err, &notify) || errors.Is(err, eventstore.ErrCommitDeadline) ||
		isOneOfErrs(err, eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit,
			eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit,
			eventstore.ErrCommitTooLarge, eventstore.ErrInvalidCommit, eventstore.ErrInvalidCommit, eventstore.ErrShardMismatch)
}

func isOneOfErrs(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// settleUnknown turns Appends whose outcome was unknown into what a read
// shows: stored, then the Append succeeded at some instant after its call
// (its return is left open, at the end of time); not stored, then it had
// no effect and leaves the history.
func settleUnknown(t *testing.T, verifier *eventstore.Store, pending []porcupine.Operation) []porcupine.Operation {
	t.Helper()
	var out []porcupine.Operation
	for _, op := range pending {
		in := op.Input.(linInput)
		ids, _, err := queryIDs(ctxT(t), verifier, in.Agg, in.Version)
		if err != nil {
			t.Fatalf("settle %s v%d: %v", in.Agg, in.Version, err)
		}
		if strings.HasPrefix(ids, in.CommitID) {
			op.Output, op.Return = linOutput{Kind: linOK}, 1<<62
			out = append(out, op)
		} else if strings.Contains(ids, in.CommitID) {
			t.Fatalf("commit %s of %s v%d is stored at another version: %s", in.CommitID, in.Agg, in.Version, ids)
		}
	}
	return out
}

// queryIDs reads an aggregate from a version, returning the concatenated
// CommitIDs and the commits; it fails on a version out of sequence.
func queryIDs(ctx context.Context, s *eventstore.Store, agg string, from int64) (string, []eventstore.Commit, error) {
	var ids strings.Builder
	var commits []eventstore.Commit
	for c, err := range s.Query(ctx, agg, from) {
		if err != nil {
			return "", nil, err
		}
		if want := from + int64(len(commits)); c.Version != want || c.AggregateID != agg {
			return "", nil, fmt.Errorf("Query(%s, %d) yielded %s v%d, want v%d", agg, from, c.AggregateID, c.Version, want)
		}
		ids.WriteString(c.CommitID)
		commits = append(commits, c)
	}
	return ids.String(), commits, nil
}

// checkContents checks that every commit read back is the one sent with its
// CommitID, all its events included.
func checkContents(t *testing.T, mu *sync.Mutex, sent map[string]eventstore.Commit, got []eventstore.Commit) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for _, c := range got {
		want, ok := sent[c.CommitID]
		if !ok {
			continue // its Append has not returned yet
		}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("commit %s read back differs (-sent +read):\n%s", c.CommitID, diff)
		}
	}
}
