package projection

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/retry"
)

// term is one process holding one partition, from acquire to release or
// loss: it follows the partition's log from its checkpoint, hands the
// commits to the handler, parks aggregates, and advances the checkpoint.
type term struct {
	r      *Runner
	i      int
	token  string
	term   int64
	mem    *memory
	parked map[string]Parked
	cancel context.CancelCauseFunc
	stopAt atomic.Bool // stop was called: the term is ending
	done   chan struct{}
	err    error // why it ended, once done is closed

	mark     string    // the latest watermark: every commit up to it was handled or parked
	written  string    // the checkpoint stored
	lastSent time.Time // when it was stored
	caughtUp bool
	lag      time.Duration
	handled  int64
}

// errStopped is the cause of a term stopped by its runner.
var errStopped = errors.New("projection: partition given back")

// errHalted is returned inside a term when its ctx ended before a commit
// was handled, parked or checkpointed: the loop must take nothing more
// from the feed, so that no later watermark passes that commit.
var errHalted = errors.New("projection: term halted")

// start runs a term on the acquired partition p in a goroutine.
func (r *Runner) start(ctx context.Context, p partitionState, token string, ended chan<- int) *term {
	ctx, cancel := context.WithCancelCause(ctx)
	t := &term{r: r, i: p.index, token: token, term: p.term, mem: r.memory(p.index), parked: maps.Clone(p.parked),
		cancel: cancel, done: make(chan struct{}), mark: p.checkpoint, written: p.checkpoint, lastSent: time.Now()}
	t.mem.restart(p.checkpoint)
	go func() {
		defer close(t.done)
		t.err = t.run(ctx, p)
		cancel(nil)
		select {
		case ended <- t.i: // wakes the balancer
		default: // awake already
		}
	}()
	return t
}

// stop makes the term end: it stores its checkpoint and releases.
func (t *term) stop() {
	t.stopAt.Store(true)
	t.cancel(errStopped)
}

func (t *term) ending() bool { return t.stopAt.Load() }

// tailed is one item of the partition's log as the Tail gave it: a
// commit, an error, a watermark, or the news that it caught up.
type tailed struct {
	c        eventstore.Commit
	err      error
	mark     string
	caughtUp bool
}

// run is the term's loop; it returns why the term ended.
func (t *term) run(ctx context.Context, p partitionState) error {
	feed := make(chan tailed, 256)
	ctl := make(chan partitionState, 1)
	ctl <- p // act on the operators' requests already stored
	var wg sync.WaitGroup
	defer wg.Wait()
	defer t.cancel(errStopped) // ends the goroutines, whatever ended the loop
	wg.Go(func() { t.heartbeat(ctx, ctl) })
	wg.Go(func() { t.follow(ctx, p.checkpoint, feed) })
	err := t.loop(ctx, feed, ctl)
	if errors.Is(err, errHalted) {
		err = t.cause(ctx)
	}
	if errors.Is(err, ErrLeaseLost) {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	werr := t.advance(wctx, true)
	if werr == nil {
		werr = t.r.st.release(wctx, t.i, t.token, t.term)
	}
	if errors.Is(werr, ErrLeaseLost) {
		return werr
	}
	t.r.report(werr)
	return err
}

// loop handles the feed and the operators' requests until the term ends.
func (t *term) loop(ctx context.Context, feed <-chan tailed, ctl <-chan partitionState) error {
	for {
		select {
		case <-ctx.Done():
			return t.cause(ctx)
		case p := <-ctl:
			if err := t.act(ctx, p); err != nil {
				return err
			}
		case it, ok := <-feed:
			switch {
			case (!ok || it.err != nil) && ctx.Err() != nil:
				return t.cause(ctx)
			case !ok:
				return fmt.Errorf("projection: consumer %s partition %d: the log's Tail ended before its ctx", t.r.cfg.Name, t.i)
			case it.err != nil:
				return it.err
			}
			if err := t.take(ctx, it); err != nil {
				return err
			}
		}
	}
}

// cause is why ctx ended: ErrLeaseLost, or nil for a stop.
func (t *term) cause(ctx context.Context) error {
	if c := context.Cause(ctx); errors.Is(c, ErrLeaseLost) {
		return c
	}
	return nil
}

// take handles one item of the feed.
func (t *term) take(ctx context.Context, it tailed) error {
	switch {
	case it.caughtUp:
		t.caughtUp = true
		return t.advance(ctx, true)
	case it.mark != "":
		t.mark = it.mark
		return t.advance(ctx, false)
	}
	c := it.c
	if _, ok := t.parked[c.AggregateID]; ok {
		return nil // it waits: a retry reads it again with Query
	}
	if t.mem.repeat(c) {
		return nil
	}
	return t.deliver(ctx, c)
}

// follow sends the partition's log from checkpoint into feed, with the
// Tail's watermarks, until ctx ends or the Tail fails.
func (t *term) follow(ctx context.Context, checkpoint string, feed chan<- tailed) {
	defer close(feed)
	send := func(it tailed) bool {
		select {
		case feed <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	cfg := t.r.cfg
	opts := []eventstore.ScanOption{eventstore.Live(), eventstore.Partition(t.i, cfg.Partitions),
		eventstore.OnCheckpoint(func(w string) { send(tailed{mark: w}) }),
		eventstore.OnCaughtUp(func() { send(tailed{caughtUp: true}) })}
	for c, err := range cfg.Store.Tail(ctx, checkpoint, opts...) {
		if err != nil {
			err = fmt.Errorf("projection: consumer %s partition %d: follow the log after %q: %w", cfg.Name, t.i, checkpoint, err)
		}
		if !send(tailed{c: c, err: err}) || err != nil {
			return
		}
	}
}

// deliver hands c to the handler until it returns nil, up to MaxAttempts
// times with backoff; then it parks c's aggregate. An error ends the term.
func (t *term) deliver(ctx context.Context, c eventstore.Commit) error {
	cfg := t.r.cfg
	delay := cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		err := t.handle(ctx, c)
		if err == nil {
			t.mem.handled(c)
			t.handled++
			if id, perr := ulid.ParseStrict(c.CommitID); perr == nil {
				t.lag = max(0, time.Since(ulid.Time(id.Time())))
			}
			return nil
		}
		if ctx.Err() != nil {
			return errHalted
		}
		t.r.report(fmt.Errorf("projection: consumer %s: %s version %d, attempt %d: %w", cfg.Name, c.AggregateID, c.Version, attempt, err))
		if attempt >= cfg.MaxAttempts {
			return t.park(ctx, Parked{AggregateID: c.AggregateID, Partition: t.i, Version: c.Version, CommitID: c.CommitID,
				Error: err.Error(), Attempts: attempt, At: time.UnixMilli(time.Now().UnixMilli())}) // as stored
		}
		if !retry.Sleep(ctx, delay) {
			return errHalted
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// handle calls the handler, turning a panic into an error.
func (t *term) handle(ctx context.Context, c eventstore.Commit) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("projection: handler panicked: %v", p)
		}
	}()
	return t.r.cfg.Handler.Handle(ctx, c)
}

// park stores p: the aggregate's commits from p.Version on wait.
func (t *term) park(ctx context.Context, p Parked) error {
	if err := t.write(ctx, func() error { return t.r.st.park(ctx, t.token, t.term, p) }); err != nil {
		return err
	}
	t.parked[p.AggregateID] = p
	return nil
}

// act carries out the operators' requests found in p: retry delivers a
// parked aggregate's commits from its first unhandled version, skip from
// the next one, both read with a consistent Query, in order; then the
// aggregate flows again (or is parked again at a commit that fails).
func (t *term) act(ctx context.Context, p partitionState) error {
	for agg, req := range p.parked {
		mine, ok := t.parked[agg]
		if !ok || req.Action == "" || !req.At.Equal(mine.At) {
			continue // not parked here (any more), no request, or a stale view
		}
		if err := t.resume(ctx, mine, req.Action); err != nil {
			return err
		}
	}
	return nil
}

// resume delivers parked aggregate p's commits from its first version
// (retry) or the next (skip).
func (t *term) resume(ctx context.Context, p Parked, action string) error {
	from, last := p.Version, seen{version: p.Version - 1}
	if action == actionSkip {
		from, last = p.Version+1, seen{version: p.Version, commitID: p.CommitID}
	}
	delete(t.parked, p.AggregateID)
	for c, err := range t.r.cfg.Store.Query(ctx, p.AggregateID, from) {
		if err != nil {
			t.parked[p.AggregateID] = p
			if ctx.Err() != nil {
				return errHalted
			}
			t.r.report(fmt.Errorf("projection: consumer %s: %s %q: %w", t.r.cfg.Name, action, p.AggregateID, err))
			return nil // tried again at the next renewal
		}
		if err := t.deliver(ctx, c); err != nil || t.isParked(p.AggregateID) {
			return err
		}
		last = seen{version: c.Version, commitID: c.CommitID}
	}
	t.mem.set(p.AggregateID, last)
	return t.write(ctx, func() error { return t.r.st.unpark(ctx, t.i, t.token, t.term, p.AggregateID) })
}

func (t *term) isParked(agg string) bool { _, ok := t.parked[agg]; return ok }

// advance stores the watermark as checkpoint, at most every
// CheckpointEvery unless now, and reports the progress.
func (t *term) advance(ctx context.Context, now bool) error {
	if t.mark == "" && t.written == "" && !now {
		return nil
	}
	if !now && time.Since(t.lastSent) < t.r.cfg.CheckpointEvery || t.mark < t.written {
		return nil
	}
	pr := Progress{Consumer: t.r.cfg.Name, Partition: t.i, Checkpoint: t.mark, CaughtUp: t.caughtUp, Lag: t.lag,
		Handled: t.handled, Parked: len(t.parked)}
	if err := t.write(ctx, func() error { return t.r.st.advance(ctx, t.i, t.token, t.term, t.r.cfg.LeaseDuration, pr) }); err != nil {
		return err
	}
	t.written, t.lastSent = t.mark, time.Now()
	t.mem.prune(t.mark)
	if f := t.r.cfg.OnProgress; f != nil {
		f(pr)
	}
	return nil
}

// write runs a fenced write, retrying transient errors with backoff until
// ctx ends; ErrLeaseLost, or an error retrying cannot cure, ends the term.
func (t *term) write(ctx context.Context, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 50*time.Millisecond, 2*time.Second, 0
	err := backoff.Retry(func() error {
		err := op()
		if err != nil && (errors.Is(err, ErrLeaseLost) || !retry.Transient(err)) {
			return backoff.Permanent(err)
		}
		t.r.report(err)
		return err
	}, backoff.WithContext(b, ctx))
	if errors.Is(err, ErrLeaseLost) {
		t.cancel(ErrLeaseLost)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrLeaseLost) {
		return errHalted
	}
	return err
}

// heartbeat renews the lease every third of its duration, passes the
// stored state to the loop (for the operators' requests), and ends the
// term with ErrLeaseLost when another process or a reset took it.
func (t *term) heartbeat(ctx context.Context, ctl chan<- partitionState) {
	cfg := t.r.cfg
	tick := time.NewTicker(cfg.LeaseDuration / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p, err := t.r.st.renew(ctx, t.i, t.token, t.term, cfg.LeaseDuration)
		switch {
		case errors.Is(err, ErrLeaseLost):
			t.r.report(fmt.Errorf("projection: consumer %s partition %d: %w", cfg.Name, t.i, err))
			t.cancel(ErrLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			t.r.report(err)
		case err == nil:
			select {
			case ctl <- p:
			default: // the loop has one to act on already
			}
		}
	}
}

// memory is one partition's last version handled per aggregate, for the
// commits of the last settle window, which a restarted Tail repeats.
type memory struct {
	last       map[string]seen
	checkpoint string
}

// seen is the last version of an aggregate handled, and its CommitID.
type seen struct {
	version  int64
	commitID string
}

// restart is called when a term starts from checkpoint: a checkpoint
// behind the last one known means a reset, after which everything is
// handed again.
func (m *memory) restart(checkpoint string) {
	if checkpoint < m.checkpoint {
		clear(m.last)
	}
	m.checkpoint = checkpoint
}

// repeat reports whether c was handled already.
func (m *memory) repeat(c eventstore.Commit) bool {
	s, ok := m.last[c.AggregateID]
	return ok && c.Version <= s.version
}

func (m *memory) handled(c eventstore.Commit) {
	m.last[c.AggregateID] = seen{version: c.Version, commitID: c.CommitID}
}

func (m *memory) set(agg string, s seen) { m.last[agg] = s }

// prune forgets the aggregates whose last handled commit is at or before
// checkpoint: no Tail restarted from it yields them again.
func (m *memory) prune(checkpoint string) {
	m.checkpoint = max(m.checkpoint, checkpoint)
	for agg, s := range m.last {
		if s.commitID <= checkpoint {
			delete(m.last, agg)
		}
	}
}
