package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
)

// memBlobs is a BlobStore in memory.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlobs) Put(_ context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]byte{}
	}
	b.m[key] = bytes.Clone(data)
	return nil
}

func (b *memBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", eventstore.ErrBlobNotFound, key)
	}
	return bytes.Clone(data), nil
}

func (b *memBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
	return nil
}

func (b *memBlobs) snapshot() map[string][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.m)
}

// editData is an upcaster body: it decodes an event's data as an object,
// edits it, and encodes it again.
func editData(edit func(map[string]any)) func(eventstore.Event) (eventstore.Event, error) {
	return func(e eventstore.Event) (eventstore.Event, error) {
		var m map[string]any
		if err := json.Unmarshal(e.Data, &m); err != nil {
			return e, err
		}
		edit(m)
		data, err := json.Marshal(m)
		e.Data = data
		return e, err
	}
}

// v1ToV3 is the chain of the tests: "opened" v1 -> v2 renames name to
// fullName, v2 -> v3 adds a country and renames the type to
// "accountOpened"; "legacyClosed" without a version becomes "closed" v3.
var v1ToV3 = []eventstore.Upcaster{
	{Type: "opened", Version: "2", ToType: "accountOpened", ToVersion: "3",
		Upcast: editData(func(m map[string]any) { m["country"] = "NZ" })},
	{Type: "opened", Version: "1", ToVersion: "2",
		Upcast: editData(func(m map[string]any) { m["fullName"] = m["name"]; delete(m, "name") })},
	{Type: "legacyClosed", ToType: "closed", ToVersion: "3",
		Upcast: func(e eventstore.Event) (eventstore.Event, error) { return e, nil }},
}

func jsonOf(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// upcastFixture is a table holding v1 events, written by a store without
// upcasters (raw), one of whose commits is offloaded.
type upcastFixture struct {
	raw    *eventstore.Store
	client *dynamodb.Client
	table  string
	blobs  *memBlobs
	stored []eventstore.Commit // as Append returned them
	want   []eventstore.Commit // the same, upcast to v3
}

func newUpcastFixture(t *testing.T) *upcastFixture {
	t.Helper()
	f := &upcastFixture{blobs: &memBlobs{}}
	f.raw, f.client, f.table = newStore(t, eventstore.Config{Offload: f.blobs, OffloadAbove: 1024})
	pad := randomText(8000) // offloaded
	f.stored = []eventstore.Commit{
		mustAppend(t, f.raw, eventstore.Commit{AggregateID: "acct#1", Version: 0, Metadata: map[string]string{"user": "u1"},
			Events: []eventstore.Event{
				{Type: "opened", Data: json.RawMessage(`{"name":"Ada <&>"}`), Metadata: map[string]string{"v": "1", "src": "web"}},
				{Type: "noted", Data: json.RawMessage(`{"n": 1}`)}}}),
		mustAppend(t, f.raw, eventstore.Commit{AggregateID: "acct#1", Version: 1,
			Events: []eventstore.Event{{Type: "legacyClosed", Data: json.RawMessage(`{"reason":"x"}`)}}}),
		mustAppend(t, f.raw, eventstore.Commit{AggregateID: "acct#2", Version: 0,
			Events: []eventstore.Event{{Type: "opened", Data: jsonOf(t, map[string]any{"name": "Bob", "pad": pad}), Metadata: map[string]string{"v": "1"}}}}),
	}
	if len(f.blobs.snapshot()) != 1 {
		t.Fatalf("%d blobs offloaded, want acct#2's", len(f.blobs.snapshot()))
	}
	f.want = make([]eventstore.Commit, len(f.stored))
	for i, c := range f.stored {
		c.Events = nil
		f.want[i] = c
	}
	f.want[0].Events = []eventstore.Event{
		{Type: "accountOpened", Data: jsonOf(t, map[string]any{"fullName": "Ada <&>", "country": "NZ"}), Metadata: map[string]string{"v": "3", "src": "web"}},
		{Type: "noted", Data: json.RawMessage(`{"n": 1}`)}}
	f.want[1].Events = []eventstore.Event{{Type: "closed", Data: json.RawMessage(`{"reason":"x"}`), Metadata: map[string]string{"v": "3"}}}
	f.want[2].Events = []eventstore.Event{{Type: "accountOpened", Data: jsonOf(t, map[string]any{"fullName": "Bob", "pad": pad, "country": "NZ"}), Metadata: map[string]string{"v": "3"}}}
	return f
}

// store returns a store on the fixture's table with upcasters.
func (f *upcastFixture) store(t *testing.T, upcasters []eventstore.Upcaster) *eventstore.Store {
	t.Helper()
	s, err := eventstore.New(f.client, eventstore.Config{Table: f.table, Offload: f.blobs, OffloadAbove: 1024, Upcasters: upcasters})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// items returns the stored items of the fixture's commits, in DynamoDB's
// JSON form, and its blobs.
func (f *upcastFixture) items(t *testing.T) ([]string, map[string][]byte) {
	t.Helper()
	var out []string
	for _, c := range f.stored {
		out = append(out, string(imageJSON(t, rawItem(t, f.client, f.table, c.AggregateID, c.Version))))
	}
	return out, f.blobs.snapshot()
}

// upcastReads are the store's read paths, each reading the fixture's
// commits (the first n of the log, for Scan and Tail).
var upcastReads = []struct {
	name string
	read func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error)
}{
	{"Query", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		var out []eventstore.Commit
		for _, id := range []string{"acct#1", "acct#2"} {
			for c, err := range s.Query(ctxT(t), id, 0) {
				if err != nil {
					return out, err
				}
				out = append(out, c)
			}
		}
		return out, nil
	}},
	{"Scan", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		return firstN(s.Scan(ctxT(t), "", eventstore.WithSettle(0)), len(f.stored))
	}},
	{"strict Tail", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		return firstN(s.Tail(ctxT(t), "", eventstore.WithSettle(0)), len(f.stored))
	}},
	{"live Tail", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		return firstN(s.Tail(ctxT(t), "", eventstore.Live()), len(f.stored))
	}},
	{"Update's history", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		var out []eventstore.Commit
		for _, id := range []string{"acct#1", "acct#2"} {
			_, err := s.Update(ctxT(t), id, func(history iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
				for c, err := range history {
					if err != nil {
						return nil, err
					}
					out = append(out, c)
				}
				return nil, nil // nothing to append
			})
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}},
	{"Store.ParseImage", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		return eachItem(t, f, func(item string) (eventstore.Commit, error) {
			return s.ParseImageJSON(ctxT(t), []byte(item))
		})
	}},
	{"DecodeItem", func(t *testing.T, s *eventstore.Store, f *upcastFixture) ([]eventstore.Commit, error) {
		var out []eventstore.Commit
		for _, c := range f.stored {
			got, err := s.DecodeItem(ctxT(t), rawItem(t, f.client, f.table, c.AggregateID, c.Version))
			if err != nil {
				return out, err
			}
			out = append(out, got)
		}
		return out, nil
	}},
}

// firstN reads the first n commits of seq, or its error.
func firstN(seq iter.Seq2[eventstore.Commit, error], n int) ([]eventstore.Commit, error) {
	var out []eventstore.Commit
	for c, err := range seq {
		if err != nil {
			return out, err
		}
		if out = append(out, c); len(out) == n {
			break
		}
	}
	return out, nil
}

func eachItem(t *testing.T, f *upcastFixture, parse func(item string) (eventstore.Commit, error)) ([]eventstore.Commit, error) {
	items, _ := f.items(t)
	var out []eventstore.Commit
	for _, item := range items {
		c, err := parse(item)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// sortedByKey orders commits by aggregate and version, as the fixture
// lists them (the global log orders them by CommitID).
func sortedByKey(cs []eventstore.Commit) []eventstore.Commit {
	out := append([]eventstore.Commit(nil), cs...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].AggregateID < out[i].AggregateID || (out[j].AggregateID == out[i].AggregateID && out[j].Version < out[i].Version) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestUpcastEveryReadPath: with v1 events stored (one commit offloaded)
// and a v1 -> v2 -> v3 chain registered, every read path yields v3; a
// store without upcasters reads them as stored; the stored items and blobs
// never change.
func TestUpcastEveryReadPath(t *testing.T) {
	t.Parallel()
	f := newUpcastFixture(t)
	itemsBefore, blobsBefore := f.items(t)
	up := f.store(t, v1ToV3)
	for _, r := range upcastReads {
		t.Run(r.name, func(t *testing.T) {
			got, err := r.read(t, up, f)
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if diff := cmp.Diff(f.want, sortedByKey(got)); diff != "" {
				t.Errorf("%s with upcasters (-want v3 +got):\n%s", r.name, diff)
			}
			got, err = r.read(t, f.raw, f)
			if err != nil {
				t.Fatalf("%s without upcasters: %v", r.name, err)
			}
			if diff := cmp.Diff(f.stored, sortedByKey(got)); diff != "" {
				t.Errorf("%s without upcasters (-stored +got):\n%s", r.name, diff)
			}
		})
	}
	t.Run("ParseImage, the package's", func(t *testing.T) {
		got, err := eachItem(t, &upcastFixture{stored: f.stored[:2], client: f.client, table: f.table, blobs: f.blobs},
			func(item string) (eventstore.Commit, error) { return eventstore.ParseImageJSON([]byte(item)) })
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f.stored[:2], got); diff != "" {
			t.Errorf("ParseImageJSON knows no upcasters (-stored +got):\n%s", diff)
		}
	})
	itemsAfter, blobsAfter := f.items(t)
	if diff := cmp.Diff(itemsBefore, itemsAfter); diff != "" {
		t.Errorf("reads changed the stored items (-before +after):\n%s", diff)
	}
	if !maps.EqualFunc(blobsBefore, blobsAfter, bytes.Equal) {
		t.Error("reads changed the offloaded blobs")
	}
}

// TestUpcastRetryIsAlreadyStored: an old Commit (v1 events) retried
// through a store with upcasters is compared with the stored bytes, so it
// is "already stored", never a CommitMismatchError, with Append and
// AppendAll alike; nothing is written.
func TestUpcastRetryIsAlreadyStored(t *testing.T) {
	t.Parallel()
	f := newUpcastFixture(t)
	itemsBefore, blobsBefore := f.items(t)
	obs := &observations{}
	up := storeOn(t, f.client, f.table, eventstore.Config{Offload: f.blobs, OffloadAbove: 1024, Upcasters: v1ToV3, Observer: obs})
	for _, c := range f.stored {
		got, err := up.Append(ctxT(t), c)
		if err != nil {
			t.Fatalf("retry of %s v%d: %v, want already stored", c.AggregateID, c.Version, err)
		}
		if !sameCommit(got, c) {
			t.Errorf("retry of %s v%d returned %+v", c.AggregateID, c.Version, got)
		}
	}
	if _, err := up.AppendAll(ctxT(t), f.stored[1], f.stored[2]); err != nil {
		t.Fatalf("AppendAll retry: %v, want already stored", err)
	}
	dups := 0
	obs.mu.Lock()
	for _, o := range obs.list {
		dups += o.Duplicates
	}
	obs.mu.Unlock()
	if dups != len(f.stored)+2 {
		t.Errorf("%d duplicates observed, want %d", dups, len(f.stored)+2)
	}
	changed := f.stored[0]
	changed.Events = f.want[0].Events // the v3 form is other content
	var mismatch *eventstore.CommitMismatchError
	if _, err := up.Append(ctxT(t), changed); !errors.As(err, &mismatch) {
		t.Errorf("Append of the v3 form under the stored CommitID: %v, want a *CommitMismatchError", err)
	}
	itemsAfter, blobsAfter := f.items(t)
	if diff := cmp.Diff(itemsBefore, itemsAfter); diff != "" {
		t.Errorf("retries changed the stored items (-before +after):\n%s", diff)
	}
	if !maps.EqualFunc(blobsBefore, blobsAfter, bytes.Equal) {
		t.Error("retries changed the offloaded blobs")
	}
}

var errBadUpcaster = errors.New("cannot upcast this")

// TestUpcastFailureOnRead: an upcaster that fails, panics or returns data
// that is not JSON makes every read path yield an *UpcastError naming the
// aggregate, version, event, its type and version, wrapping the
// upcaster's error: never a panic, never a partial commit.
func TestUpcastFailureOnRead(t *testing.T) {
	t.Parallel()
	f := newUpcastFixture(t)
	broken := []struct {
		name   string
		upcast func(eventstore.Event) (eventstore.Event, error)
		want   error // also matched; nil: ErrUpcastFailed only
	}{
		{"error", func(e eventstore.Event) (eventstore.Event, error) { return e, errBadUpcaster }, errBadUpcaster},
		{"panic", func(e eventstore.Event) (eventstore.Event, error) { panic("boom") }, nil},
		{"not JSON", func(e eventstore.Event) (eventstore.Event, error) { e.Data = json.RawMessage(`{"a":`); return e, nil }, nil},
	}
	for _, b := range broken {
		upcasters := append([]eventstore.Upcaster{}, v1ToV3...)
		upcasters[0].Upcast = b.upcast // opened v2 -> v3: the second step
		s := f.store(t, upcasters)
		for _, r := range upcastReads {
			t.Run(b.name+"/"+r.name, func(t *testing.T) {
				got, err := r.read(t, s, f)
				var ue *eventstore.UpcastError
				if !errors.As(err, &ue) || !errors.Is(err, eventstore.ErrUpcastFailed) || (b.want != nil && !errors.Is(err, b.want)) {
					t.Fatalf("%s: %v, want an *UpcastError wrapping %v", r.name, err, b.want)
				}
				if ue.AggregateID != "acct#1" && ue.AggregateID != "acct#2" || ue.Version != 0 || ue.Event != 0 || ue.Type != "opened" || ue.SchemaVersion != "2" {
					t.Errorf("%s: %+v, want acct#1 or acct#2 version 0 event 0 opened version 2", r.name, ue)
				}
				if !strings.Contains(err.Error(), `version 0 event 0 ("opened" version "2")`) {
					t.Errorf("%s: message %q", r.name, err)
				}
				for _, c := range got {
					if c.AggregateID == ue.AggregateID && c.Version == ue.Version {
						t.Errorf("%s yielded the commit it failed to upcast", r.name)
					}
				}
			})
		}
	}
}

// TestUpcastLiveTailStopsOnFailure: a live Tail does not retry an upcast
// failure, whatever error the upcaster wraps (here a timeout, which the
// SDK calls retryable): it yields it once and ends.
func TestUpcastLiveTailStopsOnFailure(t *testing.T) {
	t.Parallel()
	f := newUpcastFixture(t)
	upcasters := append([]eventstore.Upcaster{}, v1ToV3...)
	upcasters[1].Upcast = func(e eventstore.Event) (eventstore.Event, error) { return e, context.DeadlineExceeded }
	s := f.store(t, upcasters)
	ctx, cancel := context.WithTimeout(ctxT(t), 20*time.Second)
	defer cancel()
	n := 0
	for _, err := range s.Tail(ctx, "", eventstore.Live()) {
		n++
		if !errors.Is(err, eventstore.ErrUpcastFailed) {
			t.Fatalf("live Tail yielded %v, want the upcast failure", err)
		}
	}
	if n != 1 || ctx.Err() != nil {
		t.Errorf("live Tail yielded %d times and ended with ctx %v: want the failure once, before ctx ended", n, ctx.Err())
	}
}
