package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// newMeteredStore returns a store on a fresh table of the test DynamoDB,
// deleted at cleanup, whose every request goes through the returned Meter.
func newMeteredStore(tb testing.TB, cfg eventstore.Config) (*eventstore.Store, *Meter) {
	tb.Helper()
	client := dynamotest.Client(tb)
	if cfg.Table == "" {
		cfg.Table = dynamotest.TableName(tb, client)
	}
	meter := NewMeter(client)
	store, err := eventstore.New(meter, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.CreateTable(ctx); err != nil {
		tb.Fatal(err)
	}
	return store, meter
}

var warm sync.Once

// warmUp appends and reads a few thousand commits on a scratch table, once
// per test binary, so that the first benchmark does not pay for the JVM of
// DynamoDB Local compiling its code. With -short (CI's brief run) it does
// nothing.
func warmUp(tb testing.TB) {
	if testing.Short() {
		return
	}
	warm.Do(func() {
		store, _ := newMeteredStore(tb, eventstore.Config{})
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = fmt.Sprintf("warm#%d", i)
		}
		fill(tb, store, Payloads(100), ids, 10, 1)
		for _, id := range ids {
			for _, err := range store.Query(context.Background(), id, 0) {
				if err != nil {
					tb.Fatal(err)
				}
			}
		}
		for _, err := range store.Scan(context.Background(), "", eventstore.WithSettle(0)) {
			if err != nil {
				tb.Fatal(err)
			}
		}
	})
}

// fill appends commits of eventsPerCommit events to aggregates, with 16
// writers; each aggregate gets its commits in version order.
func fill(tb testing.TB, store *eventstore.Store, payloads []json.RawMessage, aggregates []string, commitsPer, eventsPerCommit int) {
	tb.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(aggregates) {
					return
				}
				for v := range commitsPer {
					c := eventstore.Commit{AggregateID: aggregates[i], Version: int64(v),
						Events: Events(payloads, (i*commitsPer+v)*eventsPerCommit, eventsPerCommit)}
					if _, err := store.Append(ctx, c); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkAppend appends commits of 1 and 10 events with 1 writer (ns/op
// is the latency of one Append) and with 16 concurrent writers (ns/op is
// the inverse of throughput). Each writer appends the next version of its
// own aggregate.
func BenchmarkAppend(b *testing.B) {
	warmUp(b)
	payloads := Payloads(1000)
	var aggregates atomic.Int64
	for _, events := range []int{1, 10} {
		for _, writers := range []int{1, 16} {
			store, meter := newMeteredStore(b, eventstore.Config{})
			b.Run(fmt.Sprintf("events=%d/writers=%d", events, writers), func(b *testing.B) {
				b.ReportAllocs()
				meter.Reset()
				ctx := context.Background()
				if writers == 1 {
					c := eventstore.Commit{AggregateID: fmt.Sprintf("account#%d", aggregates.Add(1))}
					for b.Loop() {
						c.Events = Events(payloads, int(c.Version)*events, events)
						if _, err := store.Append(ctx, c); err != nil {
							b.Fatal(err)
						}
						c.Version++
					}
				} else {
					// RunParallel, not b.Loop: it runs GOMAXPROCS*p goroutines.
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						c := eventstore.Commit{AggregateID: fmt.Sprintf("account#%d", aggregates.Add(1))}
						for pb.Next() {
							c.Events = Events(payloads, int(c.Version)*events, events)
							if _, err := store.Append(ctx, c); err != nil {
								b.Error(err)
								return
							}
							c.Version++
						}
					})
				}
				meter.Usage().Report(b, b.N, b.N*events)
			})
		}
	}
}

// BenchmarkQuery reads one aggregate of 1,000 events in full: written as
// 1,000 commits of 1 event, and as 100 commits of 10 events.
func BenchmarkQuery(b *testing.B) {
	warmUp(b)
	payloads := Payloads(1000)
	for _, shape := range []struct{ commits, events int }{{1000, 1}, {100, 10}} {
		store, meter := newMeteredStore(b, eventstore.Config{})
		fill(b, store, payloads, []string{"account#1"}, shape.commits, shape.events)
		b.Run(fmt.Sprintf("commits=%d/events=%d", shape.commits, shape.events), func(b *testing.B) {
			b.ReportAllocs()
			meter.Reset()
			ctx := context.Background()
			for b.Loop() {
				n := 0
				for c, err := range store.Query(ctx, "account#1", 0) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(c.Events)
				}
				if n != 1000 {
					b.Fatalf("read %d events, want 1000", n)
				}
			}
			u := meter.Usage()
			u.Report(b, b.N*shape.commits, b.N*1000)
			b.ReportMetric(float64(u.Requests)/float64(b.N), "requests/op")
		})
	}
}
