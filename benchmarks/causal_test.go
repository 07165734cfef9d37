package benchmarks

import (
	"context"
	"strconv"
	"testing"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// BenchmarkAppendPredecessor measures what the causal check costs an
// Append at version n > 0. warm: one writer appends consecutive versions,
// so its Store remembers version n-1 and sends the PutItem only. cold: two
// Stores append alternately to one aggregate, so neither has seen version
// n-1, and each Append first reads it with one consistent GetItem.
func BenchmarkAppendPredecessor(b *testing.B) {
	warmUp(b)
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			table := dynamotest.TableName(b, dynamotest.Client(b))
			first, meter := newMeteredStore(b, eventstore.Config{Table: table})
			writers := []*eventstore.Store{first}
			if mode == "cold" {
				second, err := eventstore.New(meter, eventstore.Config{Table: table})
				if err != nil {
					b.Fatal(err)
				}
				writers = append(writers, second)
			}
			ctx := context.Background()
			payload := Payloads(1)[0]
			for i, w := range writers { // the metadata check, once per Store
				if _, err := w.Append(ctx, eventstore.Commit{AggregateID: "setup#" + strconv.Itoa(i), Version: 0,
					Events: []eventstore.Event{{Type: "setup", Data: payload}}}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := first.Append(ctx, eventstore.Commit{AggregateID: "bench", Version: 0,
				Events: []eventstore.Event{{Type: "opened", Data: payload}}}); err != nil {
				b.Fatal(err)
			}
			meter.Reset()
			b.ReportAllocs()
			version := int64(1)
			for b.Loop() {
				w := writers[int(version)%len(writers)]
				if _, err := w.Append(ctx, eventstore.Commit{AggregateID: "bench", Version: version,
					Events: []eventstore.Event{{Type: "happened", Data: payload}}}); err != nil {
					b.Fatal(err)
				}
				version++
			}
			u := meter.Usage()
			u.Report(b, b.N, b.N)
			b.ReportMetric(u.RCU/float64(b.N), "RCU/commit")
		})
	}
}
