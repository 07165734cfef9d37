package eventstore

import (
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestCommitIDsIncreaseAcrossGoroutines(t *testing.T) {
	const goroutines, each = 8, 2000
	ids := make([][]ulid.ULID, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				ids[g] = append(ids[g], newCommitID(time.Now()))
			}
		})
	}
	wg.Wait()
	seen := map[ulid.ULID]bool{}
	for _, list := range ids {
		for i, id := range list {
			if seen[id] {
				t.Fatalf("duplicate CommitID %s", id)
			}
			seen[id] = true
			if i > 0 && id.Compare(list[i-1]) <= 0 {
				t.Fatalf("CommitID %s not after %s in one goroutine", id, list[i-1])
			}
		}
	}
}

func TestCommitIDsIncreaseWhenTheClockStepsBack(t *testing.T) {
	now := time.Now()
	a := newCommitID(now)
	b := newCommitID(now.Add(-time.Minute))
	if b.Compare(a) <= 0 {
		t.Errorf("after the clock stepped back, %s is not after %s", b, a)
	}
}

func TestParseCommitIDIsStrict(t *testing.T) {
	good := newCommitID(time.Now()).String()
	if _, err := parseCommitID(good); err != nil {
		t.Errorf("parse %s: %v", good, err)
	}
	for _, bad := range []string{"", "x", good + "0", good[:25], "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01jz0000000000000000000001", "01JZ000000000000000000000U"} {
		if _, err := parseCommitID(bad); err == nil {
			t.Errorf("parse %q succeeded", bad)
		}
	}
}

func TestScanBounds(t *testing.T) {
	id := newCommitID(time.Now())
	next, ok := increment(id)
	if !ok || next.Compare(id) != 1 {
		t.Fatalf("increment(%s) = %s", id, next)
	}
	var top ulid.ULID
	for i := range top {
		top[i] = 0xff
	}
	if _, ok := increment(top); ok {
		t.Error("the largest ULID has a successor")
	}
	carry := ulid.ULID{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}
	if got, _ := increment(carry); got != (ulid.ULID{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}) {
		t.Errorf("increment does not carry: %v", got)
	}

	now := time.UnixMilli(1_700_000_000_000)
	h := scanHorizon(now, time.Second)
	if h.Time() != 1_699_999_998_999 {
		t.Errorf("horizon time %d, want the millisecond before now-1s", h.Time())
	}
	if before := ulid.MustNew(1_699_999_998_999, nil); h.Compare(before) < 0 {
		t.Error("horizon excludes a commit older than now-settle")
	}
	if at := (ulid.ULID{}); at.SetTime(1_699_999_999_000) == nil && h.Compare(at) >= 0 {
		t.Error("horizon includes a commit at now-settle")
	}
	if scanHorizon(now, 0) != top {
		t.Error("settle 0 does not yield everything")
	}
}
