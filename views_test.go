package eventstore_test

import (
	"encoding/json"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
)

// seq yields commits from memory, then err if it is not nil.
func seq(err error, commits ...eventstore.Commit) iter.Seq2[eventstore.Commit, error] {
	return func(yield func(eventstore.Commit, error) bool) {
		for _, c := range commits {
			if !yield(c, nil) {
				return
			}
		}
		if err != nil {
			yield(eventstore.Commit{}, err)
		}
	}
}

// history is one commit per event of data: version i holds event i.
func history(data ...string) []eventstore.Commit {
	var commits []eventstore.Commit
	for i, d := range data {
		e := eventstore.Event{Type: "t" + string(rune('0'+i))}
		if d != "" {
			e.Data = json.RawMessage(d)
		}
		commits = append(commits, eventstore.Commit{AggregateID: "a", Version: int64(i),
			CommittedAt: time.UnixMilli(int64(1000 * (i + 1))).UTC(), Events: []eventstore.Event{e}})
	}
	return commits
}

func TestEventsFlattensCommits(t *testing.T) {
	t.Parallel()
	c0 := eventstore.Commit{AggregateID: "a", Version: 0, CommitID: "01JZ0000000000000000000001", Events: []eventstore.Event{{Type: "x"}, {Type: "y"}}}
	c1 := eventstore.Commit{AggregateID: "a", Version: 1, CommitID: "01JZ0000000000000000000002", Events: []eventstore.Event{{Type: "z"}}}
	var got []string
	for e, err := range eventstore.Events(seq(nil, c0, c1)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.CommitID[25:]+"/"+string(rune('0'+e.Version))+"/"+string(rune('0'+e.Index))+"/"+e.Type)
	}
	if want := []string{"1/0/0/x", "1/0/1/y", "2/1/0/z"}; !cmp.Equal(got, want) {
		t.Errorf("Events = %v, want %v", got, want)
	}
	boom := errors.New("boom")
	n := 0
	for _, err := range eventstore.Events(seq(boom, c0)) {
		if n++; err != nil && (!errors.Is(err, boom) || n != 3) {
			t.Errorf("error %v as item %d, want boom after the two events", err, n)
		}
	}
}

func TestFoldStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	bad := errors.New("cannot apply")
	count, err := eventstore.Fold(seq(nil, history(`{}`, `{}`, `{}`)...), 0, func(n int, e eventstore.EventView) (int, error) {
		if e.Version == 1 {
			return n, bad
		}
		return n + 1, nil
	})
	if !errors.Is(err, bad) || count != 1 {
		t.Errorf("Fold = %d, %v; want 1 and the error", count, err)
	}
	if _, err := eventstore.Fold(seq(bad, history(`{}`)...), 0, func(n int, _ eventstore.EventView) (int, error) { return n, nil }); !errors.Is(err, bad) {
		t.Errorf("Fold over a failing sequence: %v, want its error", err)
	}
}

// The views over a real aggregate, read with Query.
func TestViewsOfAStoredAggregate(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("order", 0, eventstore.Event{Type: "SENT", Data: json.RawMessage(`{"text":"EVENT PAYLOAD","sequence":1}`)}))
	last := mustAppend(t, s, commit("order", 1, eventstore.Event{Type: "PLACED", Data: json.RawMessage(`{"eventType":"PLACED","sequence":2}`)}))
	// aws-event-stream's loadFromHistory: the event types, and the fields
	// of every event's data merged in order.
	type history struct {
		types       []string
		payload     map[string]json.RawMessage
		committedAt time.Time
	}
	h, err := eventstore.Fold(s.Query(ctxT(t), "order", 0), history{payload: map[string]json.RawMessage{}},
		func(h history, e eventstore.EventView) (history, error) {
			h.types, h.committedAt = append(h.types, e.Type), e.CommittedAt
			return h, json.Unmarshal(e.Data, &h.payload)
		})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(h.types, []string{"SENT", "PLACED"}) || string(h.payload["sequence"]) != "2" ||
		string(h.payload["text"]) != `"EVENT PAYLOAD"` || !h.committedAt.Equal(last.CommittedAt) {
		t.Errorf("history %+v, want aws-event-stream's example", h)
	}
}
