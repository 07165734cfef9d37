package notifier_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// TestRelayFIFOSkewedWriters: two writers whose clocks are 1 s apart race
// on three aggregates; the relay, tailing the global log, gives the FIFO
// queue each aggregate's versions in order, each once. The store's clock
// hook is not visible from this package, so the writer ahead sets its
// CommitIDs from a clock 1 s ahead, as a caller may, and the one behind
// lets its store assign them from the real clock.
func TestRelayFIFOSkewedWriters(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, true)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	var writers []*eventstore.Store
	for range 2 {
		w, err := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: testMaxLatency, Settle: testSettle})
		if err != nil {
			t.Fatal(err)
		}
		writers = append(writers, w)
	}
	const perWriter = 12
	var mu sync.Mutex
	var all []eventstore.Commit
	var wg sync.WaitGroup
	for k, w := range writers {
		ahead := k == 1
		wg.Go(func() {
			for i, n := 0, 0; n < perWriter; i++ {
				a := fmt.Sprintf("skew#%d", i%3)
				v, err := w.LatestVersion(ctxT(t), a)
				if err != nil {
					t.Error(err)
					return
				}
				c := commit(a, v+1)
				if ahead {
					c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(time.Second)), rand.Reader).String()
				}
				c, err = w.Append(ctxT(t), c)
				if errors.Is(err, eventstore.ErrVersionConflict) ||
					(ahead && errors.Is(err, eventstore.ErrInvalidCommit)) { // not above its predecessor's, in one ms
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n++
				mu.Lock()
				all = append(all, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: newSNS(t, topic, notifier.SNSConfig{}),
		DynamoDB: client, Table: table, Name: "skew", BatchSize: 9}) // 9: see TestRelayFIFO
	msgs := queue.Receive(t, len(all), testSettle+20*time.Second)
	relay.stop(t)
	checkAll(t, "FIFO queue", msgs, all)
	envs := decodeAll(t, msgs)
	checkPerAggregateOrder(t, "FIFO queue", envs, false)
	next := map[string]int64{}
	for _, e := range envs {
		if e.Version != next[e.AggregateID] {
			t.Fatalf("FIFO queue: %s version %d, want version %d next", e.AggregateID, e.Version, next[e.AggregateID])
		}
		next[e.AggregateID]++
	}
}
