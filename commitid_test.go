package eventstore

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// newCommitID is nextCommitID for tests, whose clock is in range.
func newCommitID(now time.Time) ulid.ULID {
	id, err := nextCommitID(now)
	if err != nil {
		panic(err)
	}
	return id
}

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

// The store knows the CommitIDs it assigned, in any case, from those a
// caller made; a CommitID past the largest ULID time, or from a clock
// outside the ULID range, is an error, and leaves the next one unharmed.
func TestAssignedCommitIDs(t *testing.T) {
	own := newCommitID(time.Now())
	at, err := newCommitIDAt(own.Time() + 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{own.String(), strings.ToLower(own.String()), at.String()} {
		if !assigned(id) {
			t.Errorf("%s, assigned by the store, is not recognised", id)
		}
	}
	flipped := own
	flipped[8] ^= 1
	for _, id := range []string{flipped.String(), "", "x"} {
		if assigned(id) {
			t.Errorf("%q is taken for the store's", id)
		}
	}
	for range 1000 {
		if id := ulid.Make().String(); assigned(id) {
			t.Errorf("caller's %s is taken for the store's", id)
		}
	}
	if _, err := newCommitIDAt(ulid.MaxTime() + 1); err == nil {
		t.Error("a commit id past the largest time")
	}
	for _, at := range []time.Time{time.Date(10900, 1, 1, 0, 0, 0, 0, time.UTC), time.UnixMilli(-1)} {
		if id, err := nextCommitID(at); !errors.Is(err, errClockOutOfRange) {
			t.Errorf("clock at %v: %s, %v", at, id, err)
		}
	}
	if next := newCommitID(time.Now()); next.Time() > uint64(time.Now().Add(time.Minute).UnixMilli()) {
		t.Errorf("after a clock out of range, %s is far ahead", next)
	}
}
