package eventstore_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
)

func TestAppendQueryRoundTrip(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	in := []eventstore.Commit{{
		AggregateID: "account#1",
		Version:     0,
		Events: []eventstore.Event{
			{Type: "accountCreated", Data: json.RawMessage(`{"username": "john", "html": "<b>&</b>", "n": 1.50}`),
				Metadata: map[string]string{"schema": "v1", "": "empty key"}},
			{Type: "profileEdited", Data: json.RawMessage("[1,\n 2]")},
			{Type: "noData"},
		},
		Metadata: map[string]string{"correlationId": "c-1", "user": "ünïcødé"},
	}, {
		AggregateID: "account#1",
		Version:     1,
		Events:      []eventstore.Event{{Type: "accountDeleted", Data: json.RawMessage(`null`)}},
	}}
	var want []eventstore.Commit
	for _, c := range in {
		before := time.Now().Truncate(time.Millisecond)
		stored := mustAppend(t, s, c)
		if stored.CommitID == "" || stored.CommittedAt.Before(before) || stored.CommittedAt.After(time.Now()) {
			t.Fatalf("Append set CommitID %q CommittedAt %v, want a ULID of now", stored.CommitID, stored.CommittedAt)
		}
		c.CommitID, c.CommittedAt = stored.CommitID, stored.CommittedAt
		if diff := cmp.Diff(c, stored); diff != "" {
			t.Fatalf("Append returned a different commit (-sent +returned):\n%s", diff)
		}
		want = append(want, c)
	}
	got := collect(t, s.Query(ctxT(t), "account#1", 0))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Query (-want +got):\n%s", diff)
	}
}

func TestAppendKeepsCallersCommitID(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	c := commit("a", 0)
	c.CommitID = ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
	stored := mustAppend(t, s, c)
	if stored.CommitID != c.CommitID || !stored.CommittedAt.Equal(at) {
		t.Errorf("stored CommitID %s at %v, want %s at its ULID time", stored.CommitID, stored.CommittedAt, c.CommitID)
	}
}

// A CommitID older than the writer deadline is never sent: Append reads the
// key instead, and reports what it finds.
func TestAppendRefusesAnExpiredCommitID(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	old := commit("a", 0)
	old.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
	_, err := s.Append(ctxT(t), old)
	if !errors.Is(err, eventstore.ErrCommitDeadline) {
		t.Fatalf("Append with a minute-old CommitID: %v, want ErrCommitDeadline", err)
	}
	if n := countItems(t, client, table); n != 0 {
		t.Fatalf("table holds %d commits, want 0", n)
	}

	// The caller's late retry of a commit that was stored still succeeds.
	stored := mustAppend(t, s, commit("b", 0))
	late, err := eventstore.New(client, eventstore.WithClock(eventstore.Config{Table: table}, func() time.Time { return time.Now().Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := late.Append(ctxT(t), stored); err != nil {
		t.Errorf("late retry of a stored commit: %v, want success", err)
	}
	// And a late commit at a taken version is a conflict.
	old.AggregateID = "b"
	var conflict *eventstore.VersionConflictError
	if _, err := s.Append(ctxT(t), old); !errors.As(err, &conflict) || conflict.CommitID != stored.CommitID {
		t.Errorf("expired commit at a taken version: %v, want a conflict naming %s", err, stored.CommitID)
	}
}

func TestAppendRaceExactlyOneWins(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	const writers, rounds = 16, 5
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, writers)
		ids := make([]string, writers)
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				c, err := s.Append(ctxT(t), commit("hot", int64(round), event("won", w)))
				errs[w], ids[w] = err, c.CommitID
			})
		}
		close(start)
		wg.Wait()
		winner := ""
		for w, err := range errs {
			var conflict *eventstore.VersionConflictError
			switch {
			case err == nil && winner == "":
				winner = ids[w]
			case err == nil:
				t.Fatalf("round %d: two writers succeeded", round)
			case !errors.As(err, &conflict) || !errors.Is(err, eventstore.ErrVersionConflict):
				t.Fatalf("round %d: writer %d: %v, want *VersionConflictError", round, w, err)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: no writer succeeded", round)
		}
		for w, err := range errs {
			var conflict *eventstore.VersionConflictError
			if errors.As(err, &conflict) && (conflict.CommitID != winner || conflict.Version != int64(round) || conflict.AggregateID != "hot") {
				t.Fatalf("round %d: writer %d conflict %+v, want it to name the winner %s", round, w, conflict, winner)
			}
		}
	}
	if n := countItems(t, client, table); n != rounds {
		t.Errorf("table holds %d items, want %d", n, rounds)
	}
}

func TestAppendBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	good := eventstore.Event{Type: "ok", Data: json.RawMessage(`{}`)}
	huge := eventstore.Event{Type: "big", Data: json.RawMessage(`"` + randomText(600*1024) + `"`)}
	tests := []struct {
		name string
		c    eventstore.Commit
		want error
	}{
		{"empty aggregate id", eventstore.Commit{Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"aggregate id too long", eventstore.Commit{AggregateID: strings.Repeat("a", 2049), Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"aggregate id not UTF-8", eventstore.Commit{AggregateID: "a\xff", Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"negative version", eventstore.Commit{AggregateID: "a", Version: -1, Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"no events", eventstore.Commit{AggregateID: "a"}, eventstore.ErrInvalidCommit},
		{"event without type", eventstore.Commit{AggregateID: "a", Events: []eventstore.Event{good, {Data: json.RawMessage(`1`)}}}, eventstore.ErrInvalidCommit},
		{"invalid JSON", eventstore.Commit{AggregateID: "a", Events: []eventstore.Event{{Type: "t", Data: json.RawMessage(`{"a":`)}}}, eventstore.ErrInvalidCommit},
		{"invalid commit id", eventstore.Commit{AggregateID: "a", CommitID: "not-a-ulid", Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"lower-case commit id", eventstore.Commit{AggregateID: "a", CommitID: "01jz0000000000000000000001", Events: []eventstore.Event{good}}, eventstore.ErrInvalidCommit},
		{"over 400 KB", eventstore.Commit{AggregateID: "a", Events: []eventstore.Event{huge}}, eventstore.ErrCommitTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Append(ctxT(t), tt.c)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Append: %v, want %v", err, tt.want)
			}
			if tt.want == eventstore.ErrCommitTooLarge && !strings.Contains(err.Error(), "bytes") {
				t.Errorf("error %q does not give the size", err)
			}
		})
	}
	if n := countItems(t, client, table); n != 0 {
		t.Errorf("table holds %d items after bad input, want 0", n)
	}
}

func TestAppendCompressesToFit(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	// 500 KB of JSON compresses to about 375 KB: under the item limit.
	c := commit("big", 0, eventstore.Event{Type: "big", Data: json.RawMessage(`"` + randomText(500*1024) + `"`)})
	mustAppend(t, s, c)
	got := collect(t, s.Query(ctxT(t), "big", 0))
	if len(got) != 1 || string(got[0].Events[0].Data) != string(c.Events[0].Data) {
		t.Fatalf("Query returned %d commits, want the 500 KB commit back", len(got))
	}
}
