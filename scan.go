package eventstore

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// ScanOption changes one Scan.
type ScanOption func(*scanOptions)

type scanOptions struct {
	settle     time.Duration
	live       bool         // Live
	caughtUp   func()       // OnCaughtUp
	checkpoint func(string) // OnCheckpoint
}

// WithSettle sets the settle window of one Scan or Tail: only commits whose
// CommitID time is older than now minus d are yielded. 0 yields everything
// visible now, which may skip a commit that lands later with an older
// CommitID; use it only where that is acceptable (tests, a one-off export
// of a quiet table). A negative d makes the scan yield an error.
func WithSettle(d time.Duration) ScanOption {
	return func(o *scanOptions) { o.settle = d }
}

// Scan yields every commit of the table in CommitID order, each exactly
// once, starting after the exclusive checkpoint after (the CommitID of the
// last commit the caller processed, or "" for the beginning). It queries
// every shard of the scan index in parallel, a page ahead of the caller,
// and merges them, so memory stays within a few pages per shard whatever
// the size of the table. It yields only commits older than the settle
// window (Config.Settle or WithSettle), so that a commit whose write was
// slow cannot appear later behind a checkpoint the caller already passed.
// See doc.go, "Settle window". Throttling and server errors are retried
// with backoff, resuming the failed page, so no commit is skipped or
// repeated.
//
// Every aggregate's commits come in version order (CommitIDs are causal;
// see doc.go, "Causal order"). Commits that share a caller-set CommitID are
// yielded adjacently, ordered by AggregateID, and a checkpoint at that
// CommitID covers all of them: checkpoint after the last of such a run
// (the store never assigns equal ids).
//
// Reads of the index are eventually consistent. An error (ErrInvalidCommitID
// for a bad checkpoint, a DynamoDB error after retries, an item that does
// not decode, ErrShardMismatch, ErrSettleMismatch for a settle window
// shorter than the table's recorded writer deadline plus SettleAllowance,
// an error for the Live option) is yielded once and ends the sequence;
// OnCaughtUp and OnCheckpoint do nothing here. An item of the scan index
// that is no commit of the table (a commitId that is not a canonical ULID,
// wherever it sorts, or a negative version) is yielded as ErrCorruptCommit
// at its place in CommitID order, never skipped; one that sorts before the checkpoint,
// among the ULIDs, was the error of the scan that passed it. An item whose
// shard is not one of 0..ScanShards-1 is in no shard Scan reads: finding it
// takes a read of the whole index, which the eventstore command's verify
// does. Scan stops its requests
// once the caller stops ranging. It is safe for
// concurrent use.
func (s *Store) Scan(ctx context.Context, after string, opts ...ScanOption) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		lo, settle, err := s.startScan(after, opts)
		if err == nil && s.tailOptions(opts).live {
			err = errLiveScan
		}
		if err != nil {
			yield(Commit{}, err)
			return
		}
		s.scan(ctx, lo, settle, true, yield)
	}
}

// startScan checks the checkpoint and options of a Scan or Tail, and returns
// the first CommitID to read and the settle window.
func (s *Store) startScan(after string, opts []ScanOption) (ulid.ULID, time.Duration, error) {
	o := scanOptions{settle: s.cfg.Settle}
	for _, opt := range opts {
		opt(&o)
	}
	if o.settle < 0 {
		return ulid.ULID{}, 0, fmt.Errorf("%w: %v", errNegativeSettle, o.settle)
	}
	lo, err := scanStart(after)
	return lo, o.settle, err
}

// scan yields the commits from lo to the settle horizon, merging the shards.
// With probe, it also looks for items whose commitId is not canonical,
// which the horizon would hide (see probe.go), and yields the first one's
// error at its place in CommitID order.
func (s *Store) scan(ctx context.Context, lo ulid.ULID, settle time.Duration, probe bool, yield func(Commit, error) bool) {
	if err := s.checkReader(ctx, settle); err != nil {
		yield(Commit{}, err)
		return
	}
	ctx = pagesOf(ctx, OpScan)
	hi := scanHorizon(s.cfg.now(), settle)
	if hi.Compare(lo) < 0 {
		return
	}
	corruptAt, corrupt := "", error(nil)
	if probe {
		if corruptAt, corrupt = s.probe(ctx, hi); corrupt != nil && corruptAt < lo.String() {
			yield(Commit{}, corrupt)
			return
		}
	}
	queries := make([]*dynamodb.QueryInput, s.cfg.ScanShards)
	for i := range queries {
		queries[i] = s.shardQuery(i, lo, hi)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	readers := s.readShards(ctx, queries, &wg)
	sources := make([]sorted[Commit], len(readers))
	for i, r := range readers {
		sources[i] = r
	}
	var last Commit
	stopped := false
	mergeSorted(sources, before, func(c Commit, err error) bool {
		more := s.scanStep(ctx, yield, &last, corruptAt, corrupt)(c, err)
		stopped = stopped || !more || err != nil
		return more
	})
	if corrupt != nil && !stopped {
		yield(Commit{}, corrupt)
	}
}

// scanStep is the body of scan's merge: it yields one commit (or error)
// and reports whether to go on. corrupt, if not nil, is yielded instead of
// the first commit past corruptAt.
func (s *Store) scanStep(ctx context.Context, yield func(Commit, error) bool, last *Commit, corruptAt string, corrupt error) func(Commit, error) bool {
	return func(c Commit, err error) bool {
		switch {
		case err != nil:
			return yield(c, err)
		case ctx.Err() != nil: // nothing more once the caller cancelled
			yield(Commit{}, ctx.Err())
			return false
		case corrupt != nil && c.CommitID > corruptAt:
			yield(Commit{}, corrupt)
			return false
		case last.CommitID != "" && !before(*last, c): // equal CommitIDs are ordered by AggregateID
			yield(Commit{}, fmt.Errorf("%w: aggregate %q version %d: commit %s out of order after %s (aggregate %q)",
				ErrCorruptCommit, c.AggregateID, c.Version, c.CommitID, last.CommitID, last.AggregateID))
			return false
		}
		*last = c
		return yield(c, nil)
	}
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

// scanHorizon is the largest CommitID a scan at now with the settle window
// yields: the last ULID of the millisecond before now-settle, or the
// largest ULID when settle is 0.
func scanHorizon(now time.Time, settle time.Duration) ulid.ULID {
	if settle <= 0 {
		var top ulid.ULID
		for i := range top {
			top[i] = 0xff
		}
		return top
	}
	var h ulid.ULID
	_ = h.SetTime(ulid.Timestamp(now.Add(-settle)) - 1)
	for i := 6; i < len(h); i++ {
		h[i] = 0xff
	}
	return h
}

// increment returns id+1, false if id is the largest ULID.
func increment(id ulid.ULID) (ulid.ULID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// shardQuery reads one shard's commits with lo <= CommitID <= hi, in
// CommitID order.
func (s *Store) shardQuery(shard int, lo, hi ulid.ULID) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		IndexName:                aws.String(s.cfg.Index),
		KeyConditionExpression:   aws.String("#s = :s AND #c BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#s": attrShard, "#c": attrCommitID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s":  &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
			":lo": &types.AttributeValueMemberS{Value: lo.String()},
			":hi": &types.AttributeValueMemberS{Value: hi.String()},
		},
	}
}
