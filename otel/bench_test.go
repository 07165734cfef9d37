package eventstoreotel_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	eventstoreotel "github.com/dynacommit/eventstore/otel"
)

// discard is an Observer that does nothing: what the store costs with any
// Observer at all, the baseline of what eventstoreotel adds.
type discard struct{}

func (discard) Observe(context.Context, eventstore.Observation) {}

// observers are the Observers the benchmarks compare: none, the discarding
// one, and eventstoreotel's without a provider (nil, no-op, the global ones
// before an SDK is set) and with the SDK.
func observers(b *testing.B) []struct {
	name string
	obs  eventstore.Observer
} {
	b.Helper()
	otelObserver := func(o *eventstoreotel.Observer, err error) eventstore.Observer {
		if err != nil {
			b.Fatal(err)
		}
		return o
	}
	tel := newTelemetry(b)
	return []struct {
		name string
		obs  eventstore.Observer
	}{
		{"none", nil},
		{"discard", discard{}},
		{"otel-nil", otelObserver(eventstoreotel.NewObserver(nil, nil))},
		{"otel-noop", otelObserver(eventstoreotel.NewObserver(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()))},
		{"otel-global-unset", otelObserver(eventstoreotel.NewObserver(otel.GetTracerProvider(), otel.GetMeterProvider()))},
		{"otel-sdk", otelObserver(eventstoreotel.NewObserver(tel.tp, tel.mp))},
	}
}

// BenchmarkObserve measures one Observe: without a provider, no
// allocation.
func BenchmarkObserve(b *testing.B) {
	ob := eventstore.Observation{Op: eventstore.OpAppend, Duration: 5 * time.Millisecond, Table: "events",
		AggregateID: "account#1", Version: 3, CommitID: "01JD5Q6X1Z8W3V4T2S9R7P6N5M", Requests: 1, WriteUnits: 1, Commits: 1}
	ctx := context.Background()
	for _, o := range observers(b) {
		if o.obs == nil {
			continue
		}
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o.obs.Observe(ctx, ob)
			}
		})
	}
}

// BenchmarkAppend measures Append on DynamoDB Local with each Observer:
// eventstoreotel without a provider allocates what the discarding Observer
// does, nothing more.
func BenchmarkAppend(b *testing.B) {
	for _, o := range observers(b) {
		b.Run(o.name, func(b *testing.B) {
			store, _ := dynamotest.NewStore(b, eventstore.Config{Observer: o.obs})
			ctx := context.Background()
			c := eventstore.Commit{AggregateID: "bench", Events: []eventstore.Event{{Type: "happened", Data: []byte(`{"n":1}`)}}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.Append(ctx, c); err != nil {
					b.Fatal(err)
				}
				c.Version++
			}
		})
	}
}
