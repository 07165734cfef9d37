package eventstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

func TestAppendNextAppendsAtTheEnd(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for want, c := range []eventstore.Commit{commit("a", 7), commit("a", 0)} { // the version given is ignored
		got, err := s.AppendNext(ctxT(t), c)
		if err != nil || got.Version != int64(want) {
			t.Fatalf("AppendNext %d: version %d, %v; want version %d", want, got.Version, err, want)
		}
	}
	mustAppend(t, s, commit("a", 2))
	if got, err := s.AppendNext(ctxT(t), commit("a", 0)); err != nil || got.Version != 3 {
		t.Fatalf("AppendNext after an Append at 2: version %d, %v; want 3", got.Version, err)
	}
	if got := collect(t, s.Query(ctxT(t), "a", 0)); len(got) != 4 {
		t.Errorf("aggregate has %d commits, want 4", len(got))
	}
}

// Writers appending to one aggregate at once all get a version each, with
// no gap and no commit lost.
func TestAppendNextUnderContention(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{AppendNextAttempts: 100})
	const writers, each = 6, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.AppendNext(ctxT(t), commit("hot", 0, event("w", w*each+i)))
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("AppendNext: %v", err)
		}
	}
	got := collect(t, s.Query(ctxT(t), "hot", 0))
	seen := map[string]bool{}
	for i, c := range got {
		if c.Version != int64(i) {
			t.Fatalf("commit %d has version %d: a gap", i, c.Version)
		}
		seen[string(c.Events[0].Data)] = true
	}
	if len(got) != writers*each || len(seen) != writers*each {
		t.Errorf("%d commits with %d distinct events, want %d", len(got), len(seen), writers*each)
	}
}

// Another writer takes the version between AppendNext's read and its write,
// every time: AppendNext retries, then gives up with the conflict.
func TestAppendNextGivesUpAfterItsAttempts(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	rival := storeOn(t, client, table, eventstore.Config{})
	var seen observations
	hook := &hookClient{DynamoDBAPI: client}
	s := storeOn(t, hook, table, eventstore.Config{AppendNextAttempts: 3, Observer: &seen})
	hook.put = func(ctx context.Context, in *dynamodb.PutItemInput, send func() (*dynamodb.PutItemOutput, error)) (*dynamodb.PutItemOutput, error) {
		if _, err := rival.AppendNext(ctx, commit("a", 0)); err != nil {
			t.Errorf("rival: %v", err)
		}
		return send()
	}
	_, err := s.AppendNext(ctxT(t), commit("a", 0))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || conflict.Version != 2 {
		t.Fatalf("AppendNext against a rival: %v, want a conflict at version 2 after 3 attempts", err)
	}
	if !errors.Is(err, eventstore.ErrVersionConflict) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("AppendNext's give-up error %q does not match ErrVersionConflict or say how many attempts it made", err)
	}
	obs := seen.take(eventstore.OpAppendNext)
	if len(obs) != 1 || obs[0].Conflicts != 3 || obs[0].Retries != 2 || obs[0].Commits != 0 {
		t.Errorf("observed %+v, want 3 conflicts, 2 retries, no commit", obs)
	}
}

// A caller retrying an AppendNext of unknown outcome with the returned
// Commit finds it stored, even after others appended behind it.
func TestAppendNextRetryOfUnknownOutcome(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	other := storeOn(t, client, table, eventstore.Config{})
	lose := true
	hook := &hookClient{DynamoDBAPI: client, put: func(ctx context.Context, in *dynamodb.PutItemInput,
		send func() (*dynamodb.PutItemOutput, error)) (*dynamodb.PutItemOutput, error) {
		out, err := send()
		if lose {
			lose = false
			return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNREFUSED} // not retried
		}
		return out, err
	}}
	s := storeOn(t, hook, table, eventstore.Config{})
	mustAppend(t, other, commit("a", 0))
	c, err := s.AppendNext(ctxT(t), commit("a", 0))
	if err == nil || c.Version != 1 || c.CommitID == "" {
		t.Fatalf("AppendNext with a lost response: %+v, %v; want an error, version 1 and the CommitID", c, err)
	}
	mustAppend(t, other, commit("a", 2))
	again, err := s.AppendNext(ctxT(t), c)
	if err != nil || again.Version != 1 || again.CommitID != c.CommitID {
		t.Fatalf("retry: version %d commit %s, %v; want version 1, same commit", again.Version, again.CommitID, err)
	}
	if got := collect(t, s.Query(ctxT(t), "a", 0)); len(got) != 3 {
		t.Errorf("aggregate has %d commits, want 3 (the retry wrote nothing)", len(got))
	}
}

func TestAppendNewRefusesAnExistingAggregate(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	first, err := s.AppendNew(ctxT(t), commit("a", 5))
	if err != nil || first.Version != 0 {
		t.Fatalf("AppendNew: version %d, %v; want 0", first.Version, err)
	}
	_, err = s.AppendNew(ctxT(t), commit("a", 0))
	var conflict *eventstore.VersionConflictError
	if !errors.Is(err, eventstore.ErrAggregateExists) || !errors.As(err, &conflict) || conflict.CommitID != first.CommitID {
		t.Errorf("AppendNew of an existing aggregate: %v, want ErrAggregateExists naming %s", err, first.CommitID)
	}
	// The retry of a stored AppendNew succeeds, even after later commits.
	mustAppend(t, s, commit("a", 1))
	if _, err := s.AppendNew(ctxT(t), first); err != nil {
		t.Errorf("retry of a stored AppendNew: %v, want success", err)
	}
	if got := collect(t, s.Query(ctxT(t), "a", 0)); len(got) != 2 {
		t.Errorf("aggregate has %d commits, want 2", len(got))
	}
}

func TestAppendNewRaceExactlyOneWins(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			_, errs[w] = s.AppendNew(ctxT(t), commit("new", 0, event("created", w)))
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for w, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, eventstore.ErrAggregateExists) || !errors.Is(err, eventstore.ErrVersionConflict):
			t.Errorf("writer %d: %v, want ErrAggregateExists", w, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers created the aggregate, want 1", wins)
	}
}

// AppendNext, AppendNew and LatestVersion refuse bad input before sending
// anything.
func TestExpectedStateBadInput(t *testing.T) {
	t.Parallel()
	var calls opLog
	s, client, table := newStore(t, eventstore.Config{}, calls.option())
	calls.take()
	huge := eventstore.Event{Type: "big", Data: []byte(`"` + randomText(600*1024) + `"`)}
	tests := []struct {
		name string
		c    eventstore.Commit
		want error
	}{
		{"empty aggregate id", eventstore.Commit{Events: []eventstore.Event{event("x", 0)}}, eventstore.ErrInvalidCommit},
		{"no events", eventstore.Commit{AggregateID: "a"}, eventstore.ErrInvalidCommit},
		{"event without type", eventstore.Commit{AggregateID: "a", Events: []eventstore.Event{{}}}, eventstore.ErrInvalidCommit},
		{"bad commit id", eventstore.Commit{AggregateID: "a", CommitID: "x", Events: []eventstore.Event{event("x", 0)}}, eventstore.ErrInvalidCommit},
		{"over 400 KB", commit("a", 0, huge), eventstore.ErrCommitTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.AppendNext(ctxT(t), tt.c); !errors.Is(err, tt.want) {
				t.Errorf("AppendNext: %v, want %v", err, tt.want)
			}
			if _, err := s.AppendNew(ctxT(t), tt.c); !errors.Is(err, tt.want) {
				t.Errorf("AppendNew: %v, want %v", err, tt.want)
			}
			if sent := calls.ops(); len(sent) != 0 {
				t.Errorf("sent %v before refusing bad input", sent)
			}
		})
	}
	if _, err := s.LatestVersion(ctxT(t), ""); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("LatestVersion(\"\"): %v, want ErrInvalidCommit", err)
	}
	if _, err := s.Exists(ctxT(t), string(make([]byte, 2049))); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("Exists of a 2049-byte id: %v, want ErrAggregateIDTooLong", err)
	}
	if sent := calls.ops(); len(sent) != 0 {
		t.Errorf("sent %v before refusing bad input", sent)
	}
	if n := countItems(t, client, table); n != 0 {
		t.Errorf("table holds %d commits after bad input, want 0", n)
	}
}
