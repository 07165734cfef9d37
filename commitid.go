package eventstore

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// commitIDs hands out ULIDs that increase strictly within the process, even
// inside one millisecond, for every Store. Safe for concurrent use.
var commitIDs = struct {
	sync.Mutex
	entropy *ulid.MonotonicEntropy
	last    ulid.ULID
}{entropy: ulid.Monotonic(rand.Reader, 0)}

// newCommitID returns a ULID for the instant now, greater than every ULID
// this process made before (if the clock steps back, the previous time is
// kept, so order within a process never inverts).
func newCommitID(now time.Time) ulid.ULID {
	commitIDs.Lock()
	defer commitIDs.Unlock()
	ms := ulid.Timestamp(now)
	if ms < commitIDs.last.Time() {
		ms = commitIDs.last.Time()
	}
	id, err := ulid.New(ms, commitIDs.entropy)
	if err != nil { // the entropy of this millisecond is exhausted: move on.
		id = ulid.MustNew(ms+1, commitIDs.entropy)
	}
	commitIDs.last = id
	return id
}

// parseCommitID parses a canonical ULID string (26 characters, upper case).
func parseCommitID(s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil || id.String() != s {
		return ulid.ULID{}, fmt.Errorf("%w: %q", errNotULID, s)
	}
	return id, nil
}

// commitTime is the instant a ULID carries.
func commitTime(id ulid.ULID) time.Time {
	return ulid.Time(id.Time()).UTC()
}
