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

// The merge rules of LoadHistory, pinned.
func TestLoadHistoryMergeRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []string
		want map[string]string // field: raw JSON
	}{
		{"no events", nil, map[string]string{}},
		{"fields add up", []string{`{"a":1}`, `{"b":"x"}`}, map[string]string{"a": `1`, "b": `"x"`}},
		{"the last value wins", []string{`{"a":1,"b":2}`, `{"a":3}`}, map[string]string{"a": `3`, "b": `2`}},
		{"null overwrites", []string{`{"a":1}`, `{"a":null}`}, map[string]string{"a": `null`}},
		{"nested objects are replaced whole", []string{`{"o":{"x":1,"y":2}}`, `{"o":{"y":3}}`}, map[string]string{"o": `{"y":3}`}},
		{"arrays are replaced whole", []string{`{"l":[1,2]}`, `{"l":[3]}`}, map[string]string{"l": `[3]`}},
		{"data that is not an object adds nothing", []string{`{"a":1}`, `[1,2]`, `"s"`, `7`, `true`, `null`, ``}, map[string]string{"a": `1`}},
		{"a repeated key counts its last value", []string{`{"a":1,"a":2}`}, map[string]string{"a": `2`}},
		{"values are kept byte for byte", []string{`{"n":1.50,"s":"<&>"}`}, map[string]string{"n": `1.50`, "s": `"<&>"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits := history(tt.data...)
			h, err := eventstore.LoadHistory(seq(nil, commits...))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range h.Payload {
				got[k] = string(v)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
			if len(h.EventTypes) != len(tt.data) {
				t.Errorf("event types %v, want one per event (%d)", h.EventTypes, len(tt.data))
			}
			wantVersion := int64(len(tt.data) - 1)
			if h.Version != wantVersion || (len(commits) > 0 && !h.CommittedAt.Equal(commits[len(commits)-1].CommittedAt)) {
				t.Errorf("version %d at %v, want the last commit's (%d)", h.Version, h.CommittedAt, wantVersion)
			}
		})
	}
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
	if _, err := eventstore.LoadHistory(seq(bad, history(`{}`)...)); !errors.Is(err, bad) {
		t.Errorf("LoadHistory over a failing sequence: %v, want its error", err)
	}
}

// The views over a real aggregate, read with Query.
func TestViewsOfAStoredAggregate(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("order", 0, eventstore.Event{Type: "SENT", Data: json.RawMessage(`{"text":"EVENT PAYLOAD","sequence":1}`)}))
	last := mustAppend(t, s, commit("order", 1, eventstore.Event{Type: "PLACED", Data: json.RawMessage(`{"eventType":"PLACED","sequence":2}`)}))
	h, err := eventstore.LoadHistory(s.Query(ctxT(t), "order", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(h.EventTypes, []string{"SENT", "PLACED"}) || string(h.Payload["sequence"]) != "2" ||
		string(h.Payload["text"]) != `"EVENT PAYLOAD"` || !h.CommittedAt.Equal(last.CommittedAt) {
		t.Errorf("history %+v, want aws-event-stream's example", h)
	}
}
