package benchmarks

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
)

// BenchmarkScan reads a global log of 100,000 events (10,000 commits
// of 10 events) with 1, 4 and 16 scan shards, and reports events/s and the
// high-water mark of the heap during the scan above what it was before:
// the memory Scan holds (up to three pages per shard), which must not grow
// with the table. The heap is measured on one more scan, untimed, with the
// GC at GOGC=5 so that it holds little garbage.
func BenchmarkScan(b *testing.B) {
	const commits, eventsPerCommit = 10000, 10
	warmUp(b)
	payloads := Payloads(1000)
	ids := make([]string, commits)
	for i := range ids {
		ids[i] = fmt.Sprintf("account#%d", i)
	}
	for _, shards := range []int{1, 4, 16} {
		store, meter := newMeteredStore(b, eventstore.Config{ScanShards: shards})
		fill(b, store, payloads, ids, 1, eventsPerCommit)
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			b.ReportAllocs()
			meter.Reset()
			ctx := context.Background()
			scan := func() {
				n := 0
				for c, err := range store.Scan(ctx, "", eventstore.WithSettle(0)) {
					if err != nil {
						b.Fatal(err)
					}
					n += len(c.Events)
				}
				if n != commits*eventsPerCommit {
					b.Fatalf("read %d events, want %d", n, commits*eventsPerCommit)
				}
			}
			for b.Loop() {
				scan()
			}
			u := meter.Usage()
			u.Report(b, b.N*commits, b.N*commits*eventsPerCommit)
			b.ReportMetric(float64(u.Requests)/float64(b.N), "requests/op")
			b.StopTimer()
			hw := watchHeap() // one more scan, untimed, for the memory
			scan()
			b.ReportMetric(float64(hw())/(1<<20), "peak-heap-MB")
		})
	}
}

// watchHeap samples the heap every 2 ms until the returned function is
// called, which returns the largest rise over the heap at the start. The GC
// runs at GOGC=5 meanwhile, so that the heap is close to what is live, not
// garbage waiting for a collection.
func watchHeap() func() int64 {
	gogc := debug.SetGCPercent(5)
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	base := read()
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if rise := read() - base; rise > peak.Load() {
					peak.Store(rise)
				}
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		debug.SetGCPercent(gogc)
		return peak.Load()
	}
}
