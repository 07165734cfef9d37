package notifier

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/dynacommit/eventstore/internal/retry"

	"github.com/dynacommit/eventstore"
)

// Defaults of RelayConfig's zero values.
const (
	// DefaultLeaseDuration is how long a relay's lease on its checkpoint
	// lasts without renewal. The holder renews it every third of that; a
	// standby relay takes over at most this long after the holder died, or
	// within a few seconds after it stopped cleanly.
	DefaultLeaseDuration = 30 * time.Second
	// DefaultBatchSize is the most commits a relay publishes with one
	// NotifyBatch (one PublishBatch with SNS, which takes at most 10) and
	// then checkpoints with one write.
	DefaultBatchSize = 10
)

// RelayConfig configures a Relay. Zero values mean the documented defaults.
type RelayConfig struct {
	// Store is the event store whose global log the relay follows with
	// Store.Tail in live mode (required): a commit is published typically
	// within a few hundred milliseconds of its Append. The store's settle
	// window bounds how far the stored checkpoint trails the log. The
	// store needs no Notifier of its own.
	Store *eventstore.Store
	// Notifier publishes the commits (required), usually an *SNS. When it
	// implements BatchNotifier, commits go out in batches.
	Notifier eventstore.Notifier
	// DynamoDB reads and writes the checkpoint item (required).
	DynamoDB DynamoDBAPI
	// Table holds the checkpoint item (required): normally the event
	// store's own table; any table keyed (aggregateId S, version N) will do.
	Table string
	// Name identifies the checkpoint (required). Relays with one Name share
	// one checkpoint and one lease: one of them publishes, the others stand
	// by. Give each topic its own Name.
	Name string
	// From is the exclusive checkpoint to start from when none is stored
	// yet: "" publishes the whole log from its beginning, a CommitID only
	// the commits after it.
	From string
	// LeaseDuration is how long the lease lasts unrenewed; default
	// DefaultLeaseDuration, at least 100 ms.
	LeaseDuration time.Duration
	// BatchSize is the most commits published and checkpointed at once;
	// default DefaultBatchSize.
	BatchSize int
	// OnError, if set, is told of every error the relay retries (a failed
	// publish, checkpoint write or lease renewal) and of a lost lease. It
	// is called from several goroutines.
	OnError func(error)
}

func (c *RelayConfig) setDefaults() {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
}

func (c *RelayConfig) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("notifier: RelayConfig.Store is required"))
	}
	if c.Notifier == nil {
		errs = append(errs, errors.New("notifier: RelayConfig.Notifier is required"))
	}
	if c.DynamoDB == nil {
		errs = append(errs, errors.New("notifier: RelayConfig.DynamoDB is required"))
	}
	if n := len(c.Table); n < 3 || n > 255 {
		errs = append(errs, fmt.Errorf("notifier: RelayConfig.Table %q must have 3 to 255 characters", c.Table))
	}
	if c.Name == "" || len(checkpointPrefix+c.Name) > 2048 {
		errs = append(errs, fmt.Errorf("notifier: RelayConfig.Name must have 1 to %d bytes", 2048-len(checkpointPrefix)))
	}
	if c.From != "" && !validCommitID(c.From) {
		errs = append(errs, fmt.Errorf("notifier: RelayConfig.From %q is not a CommitID", c.From))
	}
	if c.LeaseDuration < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("notifier: RelayConfig.LeaseDuration %v must be at least 100ms", c.LeaseDuration))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("notifier: RelayConfig.BatchSize %d must be at least 1", c.BatchSize))
	}
	return errors.Join(errs...)
}

// Relay publishes every commit of an event store, at least once, each
// aggregate's commits in version order, for applications that want no
// dual-write risk: Append only writes, and the relay follows the global
// log (Store.Tail in live mode, eventstore.Live) from a checkpoint kept in
// DynamoDB, publishes what it reads within about a second of the Append,
// and then advances the checkpoint to the Tail's watermark
// (eventstore.OnCheckpoint): every commit up to it was published. The
// watermark trails the log by the store's settle window, so after a crash
// or a hand-over the commits published after it (at most a settle window
// and a poll of commits, 10-11 s by default) are published again: on a
// FIFO topic SNS drops those duplicates within its 5-minute deduplication
// window; other subscribers recognise them by the aggregateId and version
// attributes and drop the versions they have seen.
//
// The checkpoint is an item at version -1 of aggregate
// "$eventstore/relay/NAME" in RelayConfig.Table, holding the watermark
// (checkpoint: every commit with a CommitID up to it was published; a
// ULID, not always a commit's), the token of the relay that holds
// the lease (owner) and when the lease expires (leaseUntil, unix ms). A
// relay takes the lease only when it is free or expired, renews it every
// third of LeaseDuration, and advances the checkpoint with an update
// conditional on still being the owner. So of several relays with one Name,
// one publishes and the others stand by; a relay that stalled past its
// lease is fenced off (its checkpoint writes fail with ErrLeaseLost), and
// the checkpoint only ever moves past commits that were published. Clock
// skew between relays can only make two publish at once for a while:
// duplicates, never a lost commit.
type Relay struct {
	cfg   RelayConfig
	lease *lease
	// tail is cfg.Store.Tail; tests replace it.
	tail func(ctx context.Context, from string, opts ...eventstore.ScanOption) iter.Seq2[eventstore.Commit, error]
}

// NewRelay returns a relay configured by cfg. It sends no request, and
// returns an error listing every problem of cfg.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Relay{cfg: cfg, lease: newLease(cfg.DynamoDB, cfg.Table, cfg.Name, cfg.LeaseDuration), tail: cfg.Store.Tail}, nil
}

// Checkpoint returns the stored checkpoint: a CommitID such that every
// commit up to it was published, or "" if none. It reads consistently;
// its errors are DynamoDB's and ErrCorruptCheckpoint. It is safe for
// concurrent use, with Run too: a monitor can compare it with the log.
func (r *Relay) Checkpoint(ctx context.Context) (string, error) {
	return r.lease.read(ctx)
}

// Run publishes commits until ctx ends, and then returns ctx's error
// (the Tail it runs ends quietly; Run still reports why it stopped). It
// first waits for the lease (another relay with the same Name may hold it),
// then follows the log from the checkpoint. Failed publishes and checkpoint
// writes are retried without end, with backoff up to 5 s, and reported to
// OnError: the relay never skips a commit. If it loses the lease, it stands
// by again. It returns early only on an error retrying cannot cure: the
// store's (ErrShardMismatch, a commit that does not decode, a Tail that
// ended before ctx), a corrupt checkpoint, or a DynamoDB error that is not
// transient (a missing table, no permission). When it returns, its
// goroutines and its Tail have ended and it has released the lease (for
// at most 5 s more after ctx ends). A Relay runs one Run at a time.
func (r *Relay) Run(ctx context.Context) error {
	for {
		token := newToken()
		checkpoint, err := r.acquire(ctx, token)
		if err != nil {
			return err
		}
		err = r.serve(ctx, token, checkpoint)
		r.release(ctx, token)
		if !errors.Is(err, ErrLeaseLost) {
			return err
		}
		r.report(fmt.Errorf("notifier: relay %s: %w", r.cfg.Name, err))
	}
}

// acquire waits until token holds the lease and returns the checkpoint.
func (r *Relay) acquire(ctx context.Context, token string) (string, error) {
	poll := min(r.cfg.LeaseDuration/3, 5*time.Second)
	for {
		checkpoint, ok, err := r.lease.acquire(ctx, token, r.cfg.From)
		switch {
		case ok:
			return checkpoint, nil
		case err != nil && ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil && !retry.Transient(err):
			r.release(ctx, token) // a corrupt checkpoint is found after taking the lease
			return "", err
		case err != nil:
			r.report(err)
		}
		if !retry.Sleep(ctx, poll) {
			return "", ctx.Err()
		}
	}
}

// release gives up the lease, even when ctx has ended.
func (r *Relay) release(ctx context.Context, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r.lease.release(ctx, token)
}

// tailed is one item of the log as Tail yields it, or (mark set) a
// watermark Tail reported: every commit up to it came before in the feed.
type tailed struct {
	c    eventstore.Commit
	err  error
	mark string
}

// serve is one term of holding the lease: follow the log from checkpoint,
// publish, advance, until ctx ends or the lease is lost.
func (r *Relay) serve(ctx context.Context, token, checkpoint string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	feed := make(chan tailed, 4*r.cfg.BatchSize)
	wg.Add(2)
	go func() { defer wg.Done(); r.heartbeat(ctx, token, cancel) }()
	go func() { defer wg.Done(); r.follow(ctx, checkpoint, feed) }()
	var pending error
	// The newest CommitID published; while the stored checkpoint covers
	// it, a new watermark is not worth a write.
	newest := checkpoint
	for {
		b, err := r.next(ctx, feed, pending)
		if len(b.commits) == 0 && b.mark == "" {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		pending = err
		if len(b.commits) > 0 {
			if err := r.publish(ctx, b.commits); err != nil {
				return context.Cause(ctx)
			}
			newest = max(newest, b.newest)
		}
		if b.mark == "" || checkpoint >= newest {
			continue
		}
		if err := r.advance(ctx, token, b.mark); err != nil {
			return err
		}
		checkpoint = b.mark
	}
}

// follow sends the log from checkpoint into feed, with the Tail's
// watermarks, ending after an error or when ctx ends. It closes feed when
// it returns, so a Tail that ended for any other reason ends the term
// instead of leaving it waiting.
func (r *Relay) follow(ctx context.Context, checkpoint string, feed chan<- tailed) {
	defer close(feed)
	send := func(t tailed) bool {
		select {
		case feed <- t:
			return true
		case <-ctx.Done():
			return false
		}
	}
	mark := eventstore.OnCheckpoint(func(w string) { send(tailed{mark: w}) })
	for c, err := range r.tail(ctx, checkpoint, eventstore.Live(), mark) {
		if err != nil {
			err = fmt.Errorf("notifier: relay %s: follow the log after %q: %w", r.cfg.Name, checkpoint, err)
		}
		if !send(tailed{c: c, err: err}) || err != nil {
			return
		}
	}
}

// feedBatch is what next takes from the feed: commits to publish, the
// newest CommitID among them, and the latest watermark ("" if none).
type feedBatch struct {
	commits []eventstore.Commit
	newest  string
	mark    string
}

// take adds t to b; false when t is an error.
func (b *feedBatch) take(t tailed) bool {
	switch {
	case t.err != nil:
		return false
	case t.mark != "":
		b.mark = t.mark
	default:
		b.commits = append(b.commits, t.c)
		b.newest = max(b.newest, t.c.CommitID)
	}
	return true
}

// next waits for the next commit or watermark, then takes the ones already
// waiting, up to BatchSize commits. An error ends the batch; it is returned
// with the batch and then, as pending, on the next call with an empty
// batch.
func (r *Relay) next(ctx context.Context, feed <-chan tailed, pending error) (feedBatch, error) {
	var b feedBatch
	if pending != nil {
		return b, pending
	}
	select {
	case t, ok := <-feed:
		if err := r.took(ctx, &b, t, ok); err != nil {
			return b, err
		}
	case <-ctx.Done():
		return b, ctx.Err()
	}
	for len(b.commits) < r.cfg.BatchSize {
		select {
		case t, ok := <-feed:
			if err := r.took(ctx, &b, t, ok); err != nil {
				return b, err
			}
		default:
			return b, nil
		}
	}
	return b, nil
}

// took adds t, received from the feed (ok false: closed), to b; an error
// ends the batch: t's, ctx's, or that the Tail ended.
func (r *Relay) took(ctx context.Context, b *feedBatch, t tailed, ok bool) error {
	switch {
	case !ok && ctx.Err() != nil:
		return ctx.Err()
	case !ok:
		return fmt.Errorf("notifier: relay %s: the log's Tail ended before its ctx", r.cfg.Name)
	case !b.take(t):
		return t.err
	}
	return nil
}

// publish announces batch, retrying until it succeeds or ctx ends.
func (r *Relay) publish(ctx context.Context, batch []eventstore.Commit) error {
	done := 0 // commits of batch already announced one by one
	return backoff.Retry(func() error {
		var err error
		if bn, ok := r.cfg.Notifier.(BatchNotifier); ok {
			err = bn.NotifyBatch(ctx, batch)
		} else {
			for done < len(batch) {
				if err = r.cfg.Notifier.Notify(ctx, batch[done]); err != nil {
					break
				}
				done++
			}
		}
		if err != nil && ctx.Err() == nil {
			r.report(fmt.Errorf("notifier: relay %s: %w", r.cfg.Name, err))
		}
		return err
	}, relayBackoff(ctx))
}

// advance records checkpoint, retrying transient errors until ctx ends;
// ErrLeaseLost when another relay took over.
func (r *Relay) advance(ctx context.Context, token, checkpoint string) error {
	err := backoff.Retry(func() error {
		err := r.lease.advance(ctx, token, checkpoint)
		if err != nil && (errors.Is(err, ErrLeaseLost) || !retry.Transient(err)) {
			return backoff.Permanent(err)
		}
		if err != nil {
			r.report(err)
		}
		return err
	}, relayBackoff(ctx))
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// heartbeat renews the lease every third of its duration, and cancels the
// term with ErrLeaseLost when another relay has it.
func (r *Relay) heartbeat(ctx context.Context, token string, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(r.cfg.LeaseDuration / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.lease.renew(ctx, token)
		switch {
		case errors.Is(err, ErrLeaseLost):
			cancel(ErrLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			r.report(err)
		}
	}
}

func (r *Relay) report(err error) {
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
}

// relayBackoff retries without end, from 50 ms to 5 s, until ctx ends.
func relayBackoff(ctx context.Context) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	return backoff.WithContext(b, ctx)
}
