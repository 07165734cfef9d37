package eventstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dynacommit/eventstore"
)

// Once ctx is cancelled, the next value Query or Scan yields is ctx's
// error: no buffered commit is handed to the caller after the cancel.
func TestCancelStopsYieldingAtOnce(t *testing.T) {
	rig := newCancelRig(t)
	bigAggregate(t, rig.store, "big", 60)
	for a := range 8 {
		bigAggregate(t, rig.store, fmt.Sprintf("big-%d", a), 10)
	}
	for name, seq := range map[string]func(context.Context) func(func(eventstore.Commit, error) bool){
		"Query": func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
			return rig.store.Query(ctx, "big", 0)
		},
		"Scan": func(ctx context.Context) func(func(eventstore.Commit, error) bool) {
			return rig.store.Scan(ctx, "", eventstore.WithSettle(0))
		},
	} {
		ctx, cancel := context.WithCancel(ctxT(t))
		after, n := 0, 0
		var last error
		for _, err := range seq(ctx) {
			if err != nil {
				last = err
				continue
			}
			if n++; n == 1 {
				cancel()
				continue
			}
			after++
		}
		if after > 0 || last == nil {
			t.Errorf("%s: after the cancel it yielded %d more commits, then %v; want ctx's error at once", name, after, last)
		}
		cancel()
	}
}
