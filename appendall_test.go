package eventstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

func TestAppendAllStoresEveryCommit(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("order#1", 0))
	in := []eventstore.Commit{
		commit("order#1", 1, event("shipped", 1)),
		commit("stock#9", 0, event("reserved", 2), event("picked", 3)),
		{AggregateID: "invoice#4", Version: 0, Events: []eventstore.Event{event("issued", 4)}, Metadata: map[string]string{"by": "billing"}},
	}
	out, err := s.AppendAll(ctxT(t), in...)
	if err != nil {
		t.Fatalf("AppendAll: %v", err)
	}
	if in[0].CommitID != "" {
		t.Fatal("AppendAll changed the caller's commits")
	}
	for i := range out {
		if i > 0 && out[i].CommitID <= out[i-1].CommitID {
			t.Errorf("CommitIDs %s, %s not increasing in argument order", out[i-1].CommitID, out[i].CommitID)
		}
		got := collect(t, s.Query(ctxT(t), out[i].AggregateID, out[i].Version))
		if diff := cmp.Diff([]eventstore.Commit{out[i]}, got); diff != "" {
			t.Errorf("commit %d read back (-returned +stored):\n%s", i, diff)
		}
	}
}

func TestAppendAllConflictStoresNothing(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	held := []eventstore.Commit{mustAppend(t, s, commit("b", 0)), mustAppend(t, s, commit("d", 0))}
	out, err := s.AppendAll(ctxT(t), commit("a", 0), commit("b", 0), commit("c", 0), commit("d", 0))
	var first *eventstore.VersionConflictError
	if !errors.As(err, &first) || !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("AppendAll over taken versions: %v, want a *VersionConflictError", err)
	}
	conflicts := eventstore.Conflicts(err)
	if len(conflicts) != 2 || first != conflicts[0] {
		t.Fatalf("Conflicts = %v, want the two conflicting commits, the first as errors.As finds it", conflicts)
	}
	for i, c := range conflicts {
		if c.AggregateID != held[i].AggregateID || c.Version != 0 || c.CommitID != held[i].CommitID {
			t.Errorf("conflict %d = %+v, want %s version 0 held by %s", i, c, held[i].AggregateID, held[i].CommitID)
		}
	}
	if len(out) != 4 || out[0].CommitID == "" {
		t.Errorf("returned %d commits, want the 4 with their CommitIDs", len(out))
	}
	if n := countItems(t, client, table); n != 2 {
		t.Errorf("table holds %d commits, want only the 2 appended before", n)
	}
}

// Of writers racing with groups that share one version, exactly one group
// is stored; the others get a conflict on that version only.
func TestAppendAllRaceExactlyOneWins(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	const writers, rounds = 6, 3
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				_, errs[w] = s.AppendAll(ctxT(t), commit("hot", int64(round)), commit(string(rune('a'+w))+strconv.Itoa(round), 0))
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for w, err := range errs {
			if err == nil {
				winners++
				continue
			}
			c := eventstore.Conflicts(err)
			if len(c) != 1 || c[0].AggregateID != "hot" || c[0].Version != int64(round) {
				t.Fatalf("round %d writer %d: %v, want one conflict on hot", round, w, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d groups stored, want 1", round, winners)
		}
	}
	if n := countItems(t, client, table); n != 2*rounds {
		t.Errorf("table holds %d commits, want %d", n, 2*rounds)
	}
}

// A response lost after DynamoDB applied the transaction: the resend is
// recognised, by the request token or by the commits' own CommitIDs.
func TestAppendAllIdempotentAfterLostResponse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		newToken bool // the resend carries another token (as after DynamoDB's 10-minute window)
	}{{"same token", false}, {"token expired", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, client, table := newStore(t, eventstore.Config{})
			sends := 0
			hook := &hookClient{DynamoDBAPI: client, transact: func(ctx context.Context, in *dynamodb.TransactWriteItemsInput,
				send func() (*dynamodb.TransactWriteItemsOutput, error)) (*dynamodb.TransactWriteItemsOutput, error) {
				sends++
				if sends == 2 && tt.newToken {
					in.ClientRequestToken = aws.String("another-token-" + tt.name)
				}
				out, err := send()
				if sends == 1 && err == nil { // applied, but the caller never hears of it
					return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
				}
				return out, err
			}}
			s := storeOn(t, hook, table, eventstore.Config{})
			out, err := s.AppendAll(ctxT(t), commit("a", 0), commit("b", 0))
			if err != nil || sends != 2 {
				t.Fatalf("AppendAll after a lost response: %v after %d sends, want success after 2", err, sends)
			}
			if n := countItems(t, client, table); n != 2 {
				t.Fatalf("table holds %d commits, want 2", n)
			}
			// And the caller's own retry with the returned commits.
			if _, err := s.AppendAll(ctxT(t), out...); err != nil {
				t.Errorf("retry with the returned commits: %v, want success", err)
			}
		})
	}
}

func TestAppendAllSDKRetryOfLostResponse(t *testing.T) {
	t.Parallel()
	ft := &faults.Transport{Decide: faults.Once("TransactWriteItems", faults.LoseResponse)}
	s, client, table := newStore(t, eventstore.Config{}, viaTransport(ft))
	if _, err := s.AppendAll(ctxT(t), commit("a", 0), commit("b", 0), commit("c", 0)); err != nil {
		t.Fatalf("AppendAll: %v", err)
	}
	if ft.Counts()[faults.LoseResponse] != 1 {
		t.Fatal("no response was lost")
	}
	if n := countItems(t, client, table); n != 3 {
		t.Errorf("table holds %d commits, want 3", n)
	}
}

// Past the writer deadline nothing is sent; reads of the keys settle.
func TestAppendAllSettlesAfterTheDeadline(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	late := storeOn(t, client, table, eventstore.WithClock(eventstore.Config{}, func() time.Time { return time.Now().Add(time.Hour) }))

	stored, err := s.AppendAll(ctxT(t), commit("a", 0), commit("b", 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.AppendAll(ctxT(t), stored...); err != nil {
		t.Errorf("late retry of a stored group: %v, want success", err)
	}
	old := func(id string, v int64) eventstore.Commit {
		c := commit(id, v)
		c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
		return c
	}
	if _, err := s.AppendAll(ctxT(t), old("c", 0), old("d", 0)); !errors.Is(err, eventstore.ErrCommitDeadline) {
		t.Errorf("group with minute-old CommitIDs: %v, want ErrCommitDeadline", err)
	}
	_, err = s.AppendAll(ctxT(t), old("a", 0), old("e", 0))
	if c := eventstore.Conflicts(err); len(c) != 1 || c[0].CommitID != stored[0].CommitID {
		t.Errorf("late group over a taken version: %v, want a conflict naming %s", err, stored[0].CommitID)
	}
	if n := countItems(t, client, table); n != 2 {
		t.Errorf("table holds %d commits, want 2", n)
	}
}

func TestAppendAllBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	var calls opLog
	s, client, table := newStore(t, eventstore.Config{}, calls.option())
	many := make([]eventstore.Commit, eventstore.MaxAppendAll+1)
	for i := range many {
		many[i] = commit(string(rune('A'+i)), 0)
	}
	var large []eventstore.Commit // 12 commits of about 375 KB: over 4 MB together
	for i := range 12 {
		large = append(large, commit(string(rune('a'+i)), 0, eventstore.Event{Type: "big", Data: json.RawMessage(`"` + randomText(500*1024) + `"`)}))
	}
	sameID := []eventstore.Commit{commit("a", 0), commit("b", 0)}
	sameID[0].CommitID = ulid.Make().String()
	sameID[1].CommitID = sameID[0].CommitID
	tests := []struct {
		name    string
		commits []eventstore.Commit
		want    error
		mention string
	}{
		{"none", nil, eventstore.ErrInvalidCommit, ""},
		{"over 100 commits", many, eventstore.ErrInvalidCommit, "101"},
		{"over 4 MB", large, eventstore.ErrInvalidCommit, "bytes"},
		{"same version twice", []eventstore.Commit{commit("a", 0), commit("b", 0), commit("a", 0)}, eventstore.ErrInvalidCommit, "commits 0 and 2"},
		{"same commit id twice", sameID, eventstore.ErrInvalidCommit, sameID[0].CommitID},
		{"a commit without events", []eventstore.Commit{commit("a", 0), {AggregateID: "b"}}, eventstore.ErrInvalidCommit, "commit 1"},
		{"an empty aggregate id", []eventstore.Commit{{Events: []eventstore.Event{event("x", 0)}}, commit("a", 0)}, eventstore.ErrInvalidCommit, "commit 0"},
		{"a bad commit id", []eventstore.Commit{commit("a", 0), {AggregateID: "b", CommitID: "nope", Events: []eventstore.Event{event("x", 0)}}}, eventstore.ErrInvalidCommit, "commit 1"},
	}
	calls.take() // CreateTable's
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AppendAll(ctxT(t), tt.commits...)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("AppendAll: %v, want %v mentioning %q", err, tt.want, tt.mention)
			}
			if sent := calls.ops(); len(sent) != 0 {
				t.Errorf("sent %v before refusing bad input", sent)
			}
		})
	}
	if n := countItems(t, client, table); n != 0 {
		t.Errorf("table holds %d commits after bad input, want 0", n)
	}
}

// Requests of AppendAll: a single commit is one PutItem; a group, one
// TransactWriteItems. The capacity logged is what DynamoDB Local reports,
// which for a transaction is that of one item whatever their number; AWS
// bills 2 WCU per KB of each item on the table, 1 per KB on each index.
func TestAppendAllCost(t *testing.T) {
	t.Parallel()
	var seen observations
	var calls opLog
	s, _, _ := newStore(t, eventstore.Config{Observer: &seen}, calls.option())
	data := json.RawMessage(`"` + strings.Repeat("x", 700) + `"`) // under 1 KB a commit
	for _, n := range []int{1, 2, 10, 100} {
		group := make([]eventstore.Commit, n)
		for i := range group {
			group[i] = commit(ulid.Make().String(), 0, eventstore.Event{Type: "e", Data: data})
		}
		seen.take(eventstore.OpAppendAll)
		calls.take()
		if _, err := s.AppendAll(ctxT(t), group...); err != nil {
			t.Fatal(err)
		}
		obs := seen.take(eventstore.OpAppendAll)
		want := "TransactWriteItems"
		if n == 1 {
			want = "PutItem"
		}
		if ops := calls.ops(); len(ops) != 1 || ops[0] != want || len(obs) != 1 || obs[0].Requests != 1 || obs[0].Commits != n {
			t.Fatalf("AppendAll of %d: calls %v, observations %+v; want one %s", n, ops, obs, want)
		}
		t.Logf("AppendAll of %3d commits under 1 KB: 1 request, %.0f WCU reported by DynamoDB Local (table and indexes)", n, obs[0].WriteUnits)
	}
}

func TestConflicts(t *testing.T) {
	t.Parallel()
	a := &eventstore.VersionConflictError{AggregateID: "a"}
	b := &eventstore.VersionConflictError{AggregateID: "b"}
	for _, tt := range []struct {
		err  error
		want []*eventstore.VersionConflictError
	}{
		{nil, nil},
		{errors.New("x"), nil},
		{a, []*eventstore.VersionConflictError{a}},
		{errors.Join(errors.New("x"), a, b), []*eventstore.VersionConflictError{a, b}},
		{errors.Join(a, errors.Join(b)), []*eventstore.VersionConflictError{a, b}},
	} {
		if got := eventstore.Conflicts(tt.err); !cmp.Equal(got, tt.want) {
			t.Errorf("Conflicts(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// Where DynamoDB does not return the items that failed a transaction's
// conditions, AppendAll reads them to name the holders.
func TestAppendAllConflictWithoutReturnedItems(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	hook := &hookClient{DynamoDBAPI: client, transact: func(ctx context.Context, in *dynamodb.TransactWriteItemsInput,
		send func() (*dynamodb.TransactWriteItemsOutput, error)) (*dynamodb.TransactWriteItemsOutput, error) {
		out, err := send()
		var canceled *types.TransactionCanceledException
		if errors.As(err, &canceled) {
			for i := range canceled.CancellationReasons {
				canceled.CancellationReasons[i].Item = nil
			}
		}
		return out, err
	}}
	s := storeOn(t, hook, table, eventstore.Config{})
	held := mustAppend(t, s, commit("b", 0))
	stored, err := s.AppendAll(ctxT(t), commit("a", 0), commit("c", 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AppendAll(ctxT(t), commit("x", 0), commit("b", 0))
	if c := eventstore.Conflicts(err); len(c) != 1 || c[0].CommitID != held.CommitID {
		t.Errorf("conflict without returned items: %v, want one naming %s", err, held.CommitID)
	}
	// And a resend of a stored group is still recognised as its own.
	hook.transact = func(ctx context.Context, in *dynamodb.TransactWriteItemsInput,
		send func() (*dynamodb.TransactWriteItemsOutput, error)) (*dynamodb.TransactWriteItemsOutput, error) {
		in.ClientRequestToken = aws.String("fresh-" + held.CommitID) // as after the token's 10 minutes
		out, err := send()
		var canceled *types.TransactionCanceledException
		if errors.As(err, &canceled) {
			for i := range canceled.CancellationReasons {
				canceled.CancellationReasons[i].Item = nil
			}
		}
		return out, err
	}
	if _, err := s.AppendAll(ctxT(t), stored...); err != nil {
		t.Errorf("retry of a stored group without returned items: %v, want success", err)
	}
	if n := countItems(t, client, table); n != 3 {
		t.Errorf("table holds %d commits, want 3", n)
	}
}
