package eventstore

import (
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// The read options of Scan and Tail, their defaults and their checks: the
// one place a read option is defined and takes effect.

// ScanOption changes one Scan or Tail.
type ScanOption func(*scanOptions)

type scanOptions struct {
	settle     time.Duration
	live       bool         // Live
	caughtUp   func()       // OnCaughtUp
	checkpoint func(string) // OnCheckpoint
	part       partition    // Partition
}

// WithSettle sets the settle window of one Scan or Tail: only commits whose
// CommitID time is older than now minus d are yielded. 0 yields everything
// visible now, which may skip a commit that lands later with an older
// CommitID; use it only where that is acceptable (tests, a one-off export
// of a quiet table). A negative d makes the scan yield an error.
func WithSettle(d time.Duration) ScanOption {
	return func(o *scanOptions) { o.settle = d }
}

// Live makes Tail follow the log in live mode: a commit is yielded as soon
// as a poll finds it in the scan index, typically within 100-300 ms of its
// Append, instead of once it is older than the settle window. Live mode
// still never skips a commit and yields each one once per Tail, and it
// keeps every aggregate's commits in version order, but commits of
// different aggregates may come out of CommitID order, and the safe
// restart point (see OnCheckpoint) trails the settle window, so a Tail
// restarted from it repeats the commits it yielded after it. See doc.go,
// "Live tail". Scan refuses it with an error.
func Live() ScanOption {
	return func(o *scanOptions) { o.live = true }
}

// OnCaughtUp makes Tail call f once, synchronously between two yields, as
// soon as it has yielded every commit that was visible when it caught up:
// in strict mode, after its first complete pass up to the settle horizon;
// in live mode, after the settled backlog and a first poll of the commits
// newer than it (a commit whose previous version is not visible yet waits
// for it and may come after f). Scan ignores it.
func OnCaughtUp(f func()) ScanOption {
	return func(o *scanOptions) { o.caughtUp = f }
}

// OnCheckpoint makes Tail call f, synchronously between two yields, every
// time its safe restart point advances: every commit with a CommitID up to
// and including checkpoint has been yielded and its yield has returned, so
// a Tail (or Scan) started after checkpoint skips nothing. In strict mode
// it is the CommitID just yielded. In live mode it is the watermark, a
// ULID that is not itself a commit's, advanced about once a second to the
// settle horizon; a live Tail restarted from it yields again the commits
// its predecessor yielded after it (at most a settle window and a poll of
// commits, recognisable by aggregate id and version). Scan ignores it.
func OnCheckpoint(f func(checkpoint string)) ScanOption {
	return func(o *scanOptions) { o.checkpoint = f }
}

// Partition makes Scan or Tail (strict or live) read partition i of p of
// the log: the commits of the aggregates whose hash (the one that places
// an aggregate in a shard) is i modulo p. Every aggregate is in exactly
// one partition, whatever the table's shard schedule, so p readers, one
// per partition, each with its own checkpoint, together read every
// commit exactly once, each aggregate in version order; a partition's
// commits come in the order its mode gives (CommitID order for Scan and a
// strict Tail), and its checkpoints cover its own commits only. A
// partition queries only the shards that can hold it: n/p of n shards
// when p divides the count, one when the count divides p, otherwise those
// of its residue modulo the greatest common divisor. It needs 0 <= i < p;
// otherwise the read yields an error. See doc.go, "Partitions".
func Partition(i, p int) ScanOption {
	return func(o *scanOptions) { o.part = partition{i: i, p: p, set: true} }
}

// reportCaughtUp calls the OnCaughtUp callback the first time only.
func (o *scanOptions) reportCaughtUp() {
	if f := o.caughtUp; f != nil {
		o.caughtUp = nil
		f()
	}
}

// reportCheckpoint calls the OnCheckpoint callback.
func (o *scanOptions) reportCheckpoint(checkpoint string) {
	if o.checkpoint != nil && checkpoint != "" {
		o.checkpoint(checkpoint)
	}
}

// readOptions applies opts over the store's defaults and checks them and
// the checkpoint after, for Scan and both modes of Tail; it returns the
// options and the first CommitID to read.
func (s *Store) readOptions(after string, opts []ScanOption) (scanOptions, ulid.ULID, error) {
	o := scanOptions{settle: s.cfg.Settle}
	for _, opt := range opts {
		opt(&o)
	}
	if o.settle < 0 {
		return o, ulid.ULID{}, fmt.Errorf("%w: %v", errNegativeSettle, o.settle)
	}
	if pt := o.part; pt.set && (pt.p < 1 || pt.i < 0 || pt.i >= pt.p) {
		return o, ulid.ULID{}, fmt.Errorf("%w: Partition(%d, %d) needs p > 0 and 0 <= i < p", errInvalidPartition, pt.i, pt.p)
	}
	lo, err := scanStart(after)
	return o, lo, err
}

// scanStart is the smallest CommitID a scan after the checkpoint yields.
func scanStart(after string) (ulid.ULID, error) {
	if after == "" {
		return ulid.ULID{}, nil
	}
	id, _, err := parseAnyCase(after) // any case: a ULID is case-insensitive
	if err != nil {
		return id, fmt.Errorf("%w: scan checkpoint: %v", ErrInvalidCommitID, err)
	}
	next, ok := increment(id)
	if !ok {
		return id, fmt.Errorf("%w: scan checkpoint %s is the largest ULID", ErrInvalidCommitID, after)
	}
	return next, nil
}

// checkpoints reports the CommitIDs of a strict, ordered sequence as
// checkpoints, each once the commits sharing it (a run of caller-set
// CommitIDs) have all been yielded: when a greater CommitID comes, or at
// the end of a complete pass (flush).
type checkpoints struct {
	report  func(string)
	pending string
}

// before is called before yielding a commit with CommitID id.
func (c *checkpoints) before(id string) {
	if c.pending != "" && c.pending < id {
		c.report(c.pending)
		c.pending = ""
	}
}

// after is called once the yield of the commit with CommitID id returned.
func (c *checkpoints) after(id string) { c.pending = id }

// flush reports the pending CommitID after a complete pass.
func (c *checkpoints) flush() {
	if c.pending != "" {
		c.report(c.pending)
		c.pending = ""
	}
}
