package eventstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
)

// writeConcurrently appends perAggregate commits to each of n aggregates,
// one goroutine per aggregate, and returns the stored commits.
func writeConcurrently(t *testing.T, s *eventstore.Store, n, perAggregate int, data func() eventstore.Event) []eventstore.Commit {
	t.Helper()
	var mu sync.Mutex
	var all []eventstore.Commit
	var wg sync.WaitGroup
	for a := range n {
		wg.Go(func() {
			for v := range perAggregate {
				c, err := s.Append(ctxT(t), commit(fmt.Sprintf("agg-%02d", a), int64(v), data()))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				all = append(all, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(all, func(a, b eventstore.Commit) int { return compareIDs(a.CommitID, b.CommitID) })
	return all
}

func compareIDs(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkLog fails unless got is exactly want's CommitIDs, in order.
func checkLog(t *testing.T, got, want []eventstore.Commit) {
	t.Helper()
	ids := func(cs []eventstore.Commit) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.CommitID
		}
		return out
	}
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		t.Fatalf("scan yielded %d commits, want %d in CommitID order (first difference at %d)", len(g), len(w), firstDiff(g, w))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestScanMergesShardsInOrder(t *testing.T) {
	t.Parallel()
	for _, shards := range []int{1, 4, 7} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			t.Parallel()
			s, _, _ := newStore(t, eventstore.Config{ScanShards: shards})
			want := writeConcurrently(t, s, 40, 5, func() eventstore.Event { return event("e", 1) })
			got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
			checkLog(t, got, want)
			for i := 1; i < len(got); i++ {
				if got[i-1].CommitID >= got[i].CommitID {
					t.Fatalf("CommitIDs not strictly increasing at %d", i)
				}
			}

			// After a checkpoint in the middle: exactly the rest.
			mid := len(want) / 3
			rest := collect(t, s.Scan(ctxT(t), want[mid].CommitID, eventstore.WithSettle(0)))
			checkLog(t, rest, want[mid+1:])

			// After the last commit: nothing.
			if tail := collect(t, s.Scan(ctxT(t), want[len(want)-1].CommitID, eventstore.WithSettle(0))); len(tail) != 0 {
				t.Errorf("scan after the last commit yielded %d", len(tail))
			}
		})
	}
}

func TestScanPagesEveryShard(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{ScanShards: 2})
	// 8 aggregates × 12 commits × 40 KB (30 KB stored, compressed) = 2.9 MB:
	// more than one 1 MB page per shard.
	want := writeConcurrently(t, s, 8, 12, func() eventstore.Event {
		return eventstore.Event{Type: "chunk", Data: []byte(`"` + randomText(40*1024) + `"`)}
	})
	counting := &countingClient{DynamoDBAPI: client}
	reader, err := eventstore.New(counting, eventstore.Config{Table: table, ScanShards: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkLog(t, collect(t, reader.Scan(ctxT(t), "", eventstore.WithSettle(0))), want)
	if n := counting.queries.Load(); n < 4 {
		t.Errorf("%d index queries for 2.9 MB in 2 shards, want several pages per shard", n)
	}
}

func TestScanSettleWindowHidesFreshCommits(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	fresh := mustAppend(t, s, commit("fresh", 0))
	if got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(time.Hour))); len(got) != 0 {
		t.Fatalf("a one-hour settle window yielded %d fresh commits", len(got))
	}
	// The default window (10 s) also hides it; with none it is there.
	if got := collect(t, s.Scan(ctxT(t), "")); len(got) != 0 {
		t.Fatalf("the default settle window yielded %d fresh commits", len(got))
	}
	got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	if len(got) != 1 || got[0].CommitID != fresh.CommitID {
		t.Fatalf("scan without settle = %v, want the fresh commit", got)
	}

	// A store whose clock runs an hour ahead sees it as settled.
	later, err := eventstore.New(client, eventstore.WithClock(eventstore.Config{Table: table}, func() time.Time { return time.Now().Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, later.Scan(ctxT(t), "")); len(got) != 1 {
		t.Fatalf("an hour later the default window yielded %d commits, want 1", len(got))
	}
}

func TestScanBadCheckpoint(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for _, after := range []string{"x", "01jz0000000000000000000001", "01JZ00000000000000000000010"} {
		for _, err := range s.Scan(ctxT(t), after) {
			if !errors.Is(err, eventstore.ErrInvalidCommitID) {
				t.Errorf("Scan after %q: %v, want ErrInvalidCommitID", after, err)
			}
		}
	}
}
