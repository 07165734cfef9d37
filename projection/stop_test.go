package projection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/projection"
)

// A runner stopped while its handler is on a commit (the handler returns
// ctx's error) stores no checkpoint past that commit: the next runner
// hands it. Tried with several consumers, since the stopped term's loop
// might otherwise take the watermarks queued after the commit.
func TestStopMidHandlerLosesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, aggregates("acc", 40), 1)
	stuck := f.aggs[0]
	time.Sleep(testLatency + eventstore.SettleAllowance) // settled: the Tail's backlog gives a watermark per commit
	for try := range 4 {
		name := fmt.Sprintf("stop-%d", try)
		blocked := make(chan struct{}, 1)
		first := projection.HandlerFunc(func(ctx context.Context, c eventstore.Commit) error {
			if c.AggregateID == stuck {
				blocked <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
		cfg := f.config(name, first)
		cfg.Partitions = 1
		r, err := projection.NewRunner(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		select {
		case <-blocked:
		case <-time.After(20 * time.Second):
			t.Fatal("the handler never got the commit")
		}
		time.Sleep(300 * time.Millisecond) // the Tail queues the later commits and watermarks
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		rec := &recorder{}
		cfg.Handler = rec
		runRunner(t, cfg)
		waitFor(t, 20*time.Second, "the stuck commit handed by the next runner", func() bool {
			for _, c := range rec.commits() {
				if c.AggregateID == stuck {
					return true
				}
			}
			return false
		})
	}
}
