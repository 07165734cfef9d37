package eventstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Store-assigned CommitIDs carry a mark: the last 4 of their 10 bytes of
// entropy are a MAC (SHA-256 under a key this process draws at start) of
// the first 12 bytes, time and 6 random bytes. So the store knows a
// CommitID it assigned from one a caller set, wherever the Commit went in
// between (Update, a retry with a returned Commit), and may replace its
// own when a new decision needs a new one (see follow). An id made
// elsewhere (by a caller, or another process) bears the mark by chance
// once in 2^32: then, if not greater than its predecessor's, it is
// replaced rather than refused. 48 random bits per millisecond are left,
// plenty against collisions between processes.
var markKey = func() (k [32]byte) {
	rand.Read(k[:])
	return k
}()

// markBytes is the size of the mark; randomBytes the entropy left.
const (
	markBytes   = 4
	randomBytes = 10 - markBytes
)

// commitIDs hands out ULIDs that increase strictly within the process, even
// inside one millisecond, for every Store. Safe for concurrent use.
var commitIDs struct {
	sync.Mutex
	last ulid.ULID
}

// nextCommitID returns a marked ULID for the instant now, greater than
// every ULID this process made before (if the clock steps back, the
// previous time is kept, so order within a process never inverts). A
// clock outside the ULID range (before 1970, after the year 10889) is an
// error, and so is running out of ULIDs at the largest time.
func nextCommitID(now time.Time) (ulid.ULID, error) {
	commitIDs.Lock()
	defer commitIDs.Unlock()
	ms := ulid.Timestamp(now)
	if ms > ulid.MaxTime() || now.Before(time.UnixMilli(0)) {
		return ulid.ULID{}, fmt.Errorf("%w: %w: %v", ErrInvalidCommit, errClockOutOfRange, now)
	}
	last := commitIDs.last
	r := randomPart()
	if ms <= last.Time() { // same millisecond, or the clock stepped back
		ms, r = last.Time(), lastRandom(last)+1+r%(1<<16)
		if r >= 1<<(8*randomBytes) { // this millisecond's ids are used up: move on
			ms, r = ms+1, randomPart()
		}
	}
	id, err := markedID(ms, r)
	if err != nil {
		return id, fmt.Errorf("%w: %w: no commit id after %s", ErrInvalidCommit, errNoNextCommitID, last)
	}
	commitIDs.last = id
	return id, nil
}

// newCommitIDAt is a marked ULID at millisecond ms with fresh random
// entropy; past the largest time, an error.
func newCommitIDAt(ms uint64) (ulid.ULID, error) {
	return markedID(ms, randomPart())
}

// markedID is the ULID of time ms, random part r (6 bytes) and the mark.
func markedID(ms, r uint64) (ulid.ULID, error) {
	var id ulid.ULID
	if err := id.SetTime(ms); err != nil {
		return id, err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r)
	copy(id[6:6+randomBytes], b[8-randomBytes:])
	m := mark(id)
	copy(id[16-markBytes:], m[:])
	return id, nil
}

// mark is the MAC of id's time and random part.
func mark(id ulid.ULID) [markBytes]byte {
	var in [len(markKey) + 16 - markBytes]byte
	copy(in[:], markKey[:])
	copy(in[len(markKey):], id[:16-markBytes])
	sum := sha256.Sum256(in[:])
	return [markBytes]byte(sum[:markBytes])
}

// assigned reports whether id is a CommitID this process's store assigned
// (canonical or any case).
func assigned(id string) bool {
	u, _, err := parseAnyCase(id)
	return err == nil && [markBytes]byte(u[16-markBytes:]) == mark(u)
}

// randomPart is 6 random bytes.
func randomPart() uint64 {
	var b [8]byte
	rand.Read(b[8-randomBytes:])
	return binary.BigEndian.Uint64(b[:])
}

// lastRandom is the random part of id.
func lastRandom(id ulid.ULID) uint64 {
	var b [8]byte
	copy(b[8-randomBytes:], id[6:6+randomBytes])
	return binary.BigEndian.Uint64(b[:])
}

// parseCommitID parses a canonical ULID string (26 characters, upper case).
func parseCommitID(s string) (ulid.ULID, error) {
	id, err := ulid.ParseStrict(s)
	if err != nil || id.String() != s {
		return ulid.ULID{}, fmt.Errorf("%w: %q", errNotULID, s)
	}
	return id, nil
}

// parseAnyCase parses a ULID in canonical form or any other case (Crockford
// base32 is case-insensitive) and returns it with its canonical string.
// Input from callers (a checkpoint, a caller-set CommitID) goes through it;
// items read from the table must be canonical (parseCommitID), since the
// scan index orders them by their bytes.
func parseAnyCase(s string) (ulid.ULID, string, error) {
	id, err := parseCommitID(strings.ToUpper(s))
	if err != nil {
		return id, s, fmt.Errorf("%w: %q", errNotULID, s)
	}
	return id, id.String(), nil
}

// commitTime is the instant a ULID carries.
func commitTime(id ulid.ULID) time.Time {
	return ulid.Time(id.Time()).UTC()
}
