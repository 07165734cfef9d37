package projection

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Admin is the operator's view of the consumers of one table: their
// partitions, owners, checkpoints and lag, and their parked aggregates,
// which it can have retried or skipped; it can reset a consumer. It is
// safe for concurrent use, also while consumers run.
type Admin struct {
	client DynamoDBAPI
	table  string
}

// NewAdmin returns an Admin of the consumers in table. It sends no request.
func NewAdmin(client DynamoDBAPI, table string) *Admin {
	return &Admin{client: client, table: table}
}

// PartitionStatus is one partition of a consumer as stored.
type PartitionStatus struct {
	Partition int
	// Owner is the token (host/pid/random) of the process holding the
	// lease, "" if none; LeaseUntil when its lease ends unless renewed
	// (in the past: free).
	Owner      string
	LeaseUntil time.Time
	// Term is the fencing token: it grows at each acquire and reset.
	Term int64
	// Checkpoint: every commit of the partition up to it was handled or
	// belongs to a parked aggregate ("" the beginning).
	Checkpoint string
	// CaughtUp, Lag and Handled are the holder's last report (see
	// Progress), written with the checkpoint at ReportedAt.
	CaughtUp   bool
	Lag        time.Duration
	Handled    int64
	ReportedAt time.Time
	// Parked lists the partition's parked aggregates, by aggregate id.
	Parked []Parked
}

// Held reports whether a live lease holds the partition at now.
func (p PartitionStatus) Held(now time.Time) bool { return p.Owner != "" && p.LeaseUntil.After(now) }

// Consumers lists the names of the consumers ever run on the table, sorted.
// Its errors are DynamoDB's and ErrCorruptState.
func (a *Admin) Consumers(ctx context.Context) ([]string, error) {
	names, err := registered(ctx, a.client, a.table)
	slices.Sort(names)
	return names, err
}

// Status returns consumer name's partitions, read consistently.
// ErrUnknownConsumer if it has no state; ErrCorruptState; DynamoDB's errors.
func (a *Admin) Status(ctx context.Context, name string) ([]PartitionStatus, error) {
	parts, err := a.read(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionStatus, len(parts))
	for i, p := range parts {
		out[i] = PartitionStatus{Partition: i, Owner: p.owner, LeaseUntil: p.leaseUntil, Term: p.term, Checkpoint: p.checkpoint,
			CaughtUp: p.caughtUp, Lag: p.lag, Handled: p.handled, ReportedAt: p.reportedAt, Parked: sortedParked(p.parked)}
	}
	return out, nil
}

// Parked lists consumer name's parked aggregates, by partition and
// aggregate id. Errors as Status.
func (a *Admin) Parked(ctx context.Context, name string) ([]Parked, error) {
	parts, err := a.Status(ctx, name)
	var out []Parked
	for _, p := range parts {
		out = append(out, p.Parked...)
	}
	return out, err
}

// Retry asks the holder of aggregate's partition to hand its parked
// commits to the handler again, in version order, from the first one not
// handled; the holder does so within a third of its lease duration (or
// when a process takes the partition). ErrNotParked if it is not parked.
func (a *Admin) Retry(ctx context.Context, name, aggregate string) error {
	return a.request(ctx, name, aggregate, actionRetry)
}

// Skip asks the holder of aggregate's partition to skip its first parked
// commit (the one that failed; it is never handed to the handler) and to
// hand the later ones as Retry does. ErrNotParked if it is not parked.
func (a *Admin) Skip(ctx context.Context, name, aggregate string) error {
	return a.request(ctx, name, aggregate, actionSkip)
}

func (a *Admin) request(ctx context.Context, name, aggregate, action string) error {
	parts, err := a.read(ctx, name)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, ok := p.parked[aggregate]; ok {
			return newState(a.client, a.table, name).request(ctx, p.index, aggregate, action)
		}
	}
	return fmt.Errorf("%w: %q in consumer %s", ErrNotParked, aggregate, name)
}

// Reset moves every checkpoint of consumer name to from ("" the
// beginning of the log, or a CommitID: the commits after it), forgets its
// parked aggregates, and fences off the processes holding its partitions:
// their next write fails, they stop, and the partitions are taken again
// within a third of the lease duration, from the new checkpoints. The
// handler then gets again every commit after from; a read model it feeds
// should be emptied first, or be idempotent. partitions, if not 0,
// changes the partition count (every process must then run with it).
// ErrUnknownConsumer; DynamoDB's errors (a reset cut short by one leaves
// some partitions reset: run it again).
func (a *Admin) Reset(ctx context.Context, name, from string, partitions int) error {
	if from != "" && !validCommitID(from) {
		return fmt.Errorf("projection: reset point %q is not a CommitID", from)
	}
	if partitions < 0 || partitions > MaxPartitions {
		return fmt.Errorf("projection: partitions %d must be 0 to %d", partitions, MaxPartitions)
	}
	parts, err := a.read(ctx, name)
	if err != nil {
		return err
	}
	st := newState(a.client, a.table, name)
	if partitions != 0 && partitions != len(parts) {
		if err := st.setPartitions(ctx, partitions); err != nil {
			return err
		}
	}
	for i := range max(partitions, len(parts)) {
		if err := st.reset(ctx, i, from); err != nil {
			return err
		}
	}
	return nil
}

func (a *Admin) read(ctx context.Context, name string) ([]partitionState, error) {
	if err := validName(a.table, name); err != nil {
		return nil, err
	}
	_, parts, found, err := newState(a.client, a.table, name).read(ctx)
	if err == nil && !found {
		err = fmt.Errorf("%w: %q in table %s", ErrUnknownConsumer, name, a.table)
	}
	return parts, err
}

func sortedParked(m map[string]Parked) []Parked {
	out := make([]Parked, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(x, y Parked) int { return strings.Compare(x.AggregateID, y.AggregateID) })
	return out
}
