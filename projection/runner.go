package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dynacommit/eventstore/internal/retry"
)

// Runner runs one process of a named consumer of the log: it takes its
// share of the consumer's partitions, hands their commits to the handler
// and keeps their checkpoints and parked aggregates in the table. See
// doc.go for what it guarantees.
type Runner struct {
	cfg Config
	st  *state
	// memories remember, per partition, the last version handled of the
	// aggregates whose commits a restart could repeat; they outlive a
	// term, so that one process never hands an aggregate's version twice
	// unless the consumer was reset.
	mu       sync.Mutex
	memories map[int]*memory
}

// NewRunner returns a runner configured by cfg. It sends no request, and
// returns an error listing every problem of cfg.
func NewRunner(cfg Config) (*Runner, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, st: newState(cfg.DynamoDB, cfg.Table, cfg.Name), memories: map[int]*memory{}}, nil
}

// Run runs the consumer until ctx ends, and then returns ctx's error. It
// registers the consumer (creating its state with Config.Partitions if it
// has none), joins its members, and every third of LeaseDuration takes or
// gives back partitions so that each live process holds about
// Partitions/processes of them: it takes a partition only when its lease
// is free or expired, and gives back those above its share for the
// newcomers to take. Each partition it holds is followed with a live Tail
// from its checkpoint, in a goroutine of its own.
//
// Run returns early only on an error retrying cannot cure:
// ErrPartitionsMismatch, ErrCorruptState, a Tail error (ErrShardMismatch,
// a commit that does not decode), or a DynamoDB error that is not
// transient (a missing table, no permission). Transient errors are
// retried and reported to OnError. When it returns, its goroutines have
// ended and it has released its leases (for at most 5 s more after ctx
// ends). A Runner runs one Run at a time.
func (r *Runner) Run(ctx context.Context) error {
	h, err := retry.Do(ctx, func() (header, error) { return r.st.register(ctx, r.cfg.Partitions) })
	if err != nil {
		return r.stopped(ctx, err)
	}
	if h.partitions != r.cfg.Partitions {
		return fmt.Errorf("%w: consumer %s has %d, Config.Partitions is %d", ErrPartitionsMismatch, r.cfg.Name, h.partitions, r.cfg.Partitions)
	}
	token := newToken()
	b := &balancer{r: r, token: token, terms: map[int]*term{}, ended: make(chan int, r.cfg.Partitions)}
	defer b.leave(ctx)
	tick := time.NewTicker(r.cfg.LeaseDuration / 3)
	defer tick.Stop()
	for {
		if err := b.balance(ctx); err != nil {
			return r.stopped(ctx, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-b.ended:
		}
	}
}

// stopped returns ctx's error if it ended, else err.
func (r *Runner) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (r *Runner) report(err error) {
	if r.cfg.OnError != nil && err != nil {
		r.cfg.OnError(err)
	}
}

// memory returns partition i's memory.
func (r *Runner) memory(i int) *memory {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.memories[i]
	if !ok {
		m = &memory{last: map[string]seen{}}
		r.memories[i] = m
	}
	return m
}

// balancer holds the terms of one Run.
type balancer struct {
	r     *Runner
	token string
	terms map[int]*term // running or ending
	ended chan int      // a term ended
}

// balance reaps ended terms, renews the membership, and takes or gives
// back partitions toward this process's share.
func (b *balancer) balance(ctx context.Context) error {
	for i, t := range b.terms {
		select {
		case <-t.done:
			delete(b.terms, i)
			if t.err != nil && !errors.Is(t.err, ErrLeaseLost) && ctx.Err() == nil {
				return t.err
			}
		default:
		}
	}
	st, cfg := b.r.st, b.r.cfg
	now := time.Now()
	if err := st.join(ctx, b.token, now.Add(cfg.LeaseDuration)); err != nil {
		return b.transient(err)
	}
	h, parts, _, err := st.read(ctx)
	if err != nil {
		return b.transient(err)
	}
	if h.partitions != cfg.Partitions {
		return fmt.Errorf("%w: consumer %s has %d, Config.Partitions is %d", ErrPartitionsMismatch, cfg.Name, h.partitions, cfg.Partitions)
	}
	for token, until := range h.members {
		if !until.After(now) {
			b.r.report(st.leave(ctx, token, now))
		}
	}
	live := h.live(now)
	share, first := shareOf(live, b.token, cfg.Partitions)
	held := 0
	for _, t := range b.terms {
		if !t.ending() {
			held++
		}
	}
	for i := cfg.Partitions - 1; i >= 0 && held > share; i-- {
		if t, ok := b.terms[i]; ok && !t.ending() {
			t.stop()
			held--
		}
	}
	for k := 0; k < cfg.Partitions && held < share; k++ {
		i := (first + k) % cfg.Partitions
		if _, ok := b.terms[i]; ok || (parts[i].owner != "" && parts[i].leaseUntil.After(now)) {
			continue
		}
		p, ok, err := st.acquire(ctx, i, b.token, cfg.From, cfg.LeaseDuration)
		if err != nil {
			return b.transient(err)
		}
		if ok {
			b.terms[i] = b.r.start(ctx, p, b.token, b.ended)
			held++
		}
	}
	return nil
}

// transient reports err and returns nil if retrying may cure it.
func (b *balancer) transient(err error) error {
	if retry.Transient(err) {
		b.r.report(err)
		return nil
	}
	return err
}

// shareOf returns how many of partitions the member token should hold,
// and the partition it starts looking at: the members, sorted, each take
// partitions/len, the first partitions%len one more.
func shareOf(live []string, token string, partitions int) (share, first int) {
	idx := len(live)
	for k, m := range live {
		if m == token {
			idx = k
		}
	}
	members := len(live)
	if idx == len(live) { // not yet visible: count it
		members++
	}
	share = partitions / members
	if idx < partitions%members {
		share++
	}
	return share, idx * partitions / members
}

// leave ends every term, waiting for their last checkpoint and release,
// and removes the membership.
func (b *balancer) leave(ctx context.Context) {
	for _, t := range b.terms {
		t.stop()
	}
	for _, t := range b.terms {
		<-t.done
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b.r.report(b.r.st.leave(ctx, b.token, time.Time{}))
}
