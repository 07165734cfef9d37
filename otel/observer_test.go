package eventstoreotel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/dynacommit/eventstore"
	eventstoreotel "github.com/dynacommit/eventstore/otel"
)

// telemetry is an in-memory OpenTelemetry SDK: spans in a SpanRecorder,
// metrics read by a ManualReader.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(tb testing.TB) *telemetry {
	tb.Helper()
	t := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(t.spans))
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(t.reader))
	tb.Cleanup(func() {
		t.tp.Shutdown(context.Background())
		t.mp.Shutdown(context.Background())
	})
	return t
}

func (t *telemetry) observer(tb testing.TB) *eventstoreotel.Observer {
	tb.Helper()
	o, err := eventstoreotel.NewObserver(t.tp, t.mp)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// metrics returns the data points exported, by metric name: for a
// counter the sums, for a histogram the counts and sums, each with its
// attributes.
func (t *telemetry) metrics(tb testing.TB) map[string][]point {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := t.reader.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	out := map[string][]point{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: p.Attributes, sum: float64(p.Value)})
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: p.Attributes, sum: p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name] = append(out[m.Name], point{attrs: p.Attributes, sum: p.Sum, count: p.Count})
				}
			default:
				tb.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

type point struct {
	attrs attribute.Set
	sum   float64
	count uint64
}

// find returns the point of name whose attributes hold all of kv ("k=v"),
// and none of the keys of kv written "!k".
func find(points map[string][]point, name string, kv ...string) (point, bool) {
next:
	for _, p := range points[name] {
		for _, want := range kv {
			if key, ok := strings.CutPrefix(want, "!"); ok {
				if _, has := p.attrs.Value(attribute.Key(key)); has {
					continue next
				}
				continue
			}
			found := false
			for _, a := range p.attrs.ToSlice() {
				found = found || fmt.Sprintf("%s=%s", a.Key, a.Value.String()) == want
			}
			if !found {
				continue next
			}
		}
		return p, true
	}
	return point{}, false
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, a := range s.Attributes() {
		m[string(a.Key)] = a.Value.String()
	}
	return m
}

func TestObserverSpanOfAnObservation(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	obs := tel.observer(t)
	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "handler")
	conflict := fmt.Errorf("eventstore: append: %w", eventstore.ErrVersionConflict)
	before := time.Now()
	obs.Observe(ctx, eventstore.Observation{
		Op: eventstore.OpAppend, Duration: 40 * time.Millisecond, Table: "events",
		AggregateID: "account#1", Version: 3, CommitID: "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		Requests: 2, Retries: 1, Throttles: 1, WriteUnits: 1, Conflicts: 1, LateLandings: 1, Err: conflict,
	})
	parent.End()

	spans := tel.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the Append's and its parent's", len(spans))
	}
	s := spans[0]
	if s.Name() != "Append events" || s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanKind().String() != "client" {
		t.Errorf("span %q, parent %v, kind %v; want Append events, child of the handler, client", s.Name(), s.Parent().SpanID(), s.SpanKind())
	}
	if d := s.EndTime().Sub(s.StartTime()); d != 40*time.Millisecond || s.StartTime().Before(before.Add(-40*time.Millisecond)) {
		t.Errorf("span from %v to %v, want the observation's 40ms ending now", s.StartTime(), s.EndTime())
	}
	want := map[string]string{
		"db.system.name": "aws.dynamodb", "db.operation.name": "Append", "db.collection.name": "events",
		"eventstore.aggregate_id": "account#1", "eventstore.version": "3", "eventstore.commit_id": "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		"eventstore.requests": "2", "eventstore.retries": "1", "eventstore.throttles": "1", "eventstore.write_units": "1",
		"eventstore.conflicts": "1", "eventstore.late_landings": "1", "error.type": "version_conflict",
	}
	got := spanAttrs(s)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	if s.Status().Code != codes.Error || len(s.Events()) != 1 || s.Events()[0].Name != "exception" {
		t.Errorf("status %v, events %v; want an error and its exception event", s.Status(), s.Events())
	}
}

func TestObserverSpanOfAScanPage(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	tel.observer(t).Observe(context.Background(), eventstore.Observation{
		Op: eventstore.OpScan, Duration: time.Millisecond, Table: "events", Requests: 1, Commits: 0, ScanLag: 1500 * time.Millisecond,
	})
	s := tel.spans.Ended()[0]
	got := spanAttrs(s)
	if s.Name() != "Scan events" || got["eventstore.scan_lag"] != "1.5" || got["eventstore.aggregate_id"] != "" ||
		got["eventstore.commit_id"] != "" || s.Status().Code != codes.Unset {
		t.Errorf("span %q with %v, status %v; want Scan events, a lag of 1.5 s, no commit, no error", s.Name(), got, s.Status())
	}
}

func TestObserverMetrics(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	obs := tel.observer(t)
	ctx := context.Background()
	obs.Observe(ctx, eventstore.Observation{Op: eventstore.OpAppend, Table: "events", Duration: 10 * time.Millisecond,
		Requests: 1, Retries: 2, Throttles: 2, WriteUnits: 1, Commits: 1, LateLandings: 1})
	obs.Observe(ctx, eventstore.Observation{Op: eventstore.OpAppend, Table: "events", Duration: 20 * time.Millisecond,
		Requests: 1, Conflicts: 1, Err: eventstore.ErrVersionConflict})
	obs.Observe(ctx, eventstore.Observation{Op: eventstore.OpAppendAll, Table: "events", Duration: time.Millisecond,
		LateRefusals: 2, Duplicates: 1, Err: eventstore.ErrCommitDeadline})
	obs.Observe(ctx, eventstore.Observation{Op: eventstore.OpScan, Table: "events", Duration: time.Millisecond,
		Requests: 1, ReadUnits: 0.5, Commits: 3, ScanLag: 2 * time.Second})
	obs.Observe(ctx, eventstore.Observation{Op: eventstore.OpScan, Table: "events", Duration: time.Millisecond, Requests: 1})

	m := tel.metrics(t)
	for _, tc := range []struct {
		name   string
		kv     []string
		sum    float64
		count  uint64
		absent bool
	}{
		{name: eventstoreotel.MetricDuration, kv: []string{"db.operation.name=Append", "db.collection.name=events", "!error.type"}, sum: 0.01, count: 1},
		{name: eventstoreotel.MetricDuration, kv: []string{"db.operation.name=Append", "error.type=version_conflict"}, sum: 0.02, count: 1},
		{name: eventstoreotel.MetricDuration, kv: []string{"db.operation.name=Scan"}, sum: 0.002, count: 2},
		{name: eventstoreotel.MetricConflicts, kv: []string{"db.operation.name=Append", "error.type=version_conflict"}, sum: 1},
		{name: eventstoreotel.MetricThrottles, kv: []string{"db.operation.name=Append"}, sum: 2},
		{name: eventstoreotel.MetricRetries, kv: []string{"db.operation.name=Append"}, sum: 2},
		{name: eventstoreotel.MetricLateLandings, kv: []string{"db.operation.name=Append"}, sum: 1},
		{name: eventstoreotel.MetricLateRefusals, kv: []string{"db.operation.name=AppendAll", "error.type=commit_deadline"}, sum: 2},
		{name: eventstoreotel.MetricDuplicates, kv: []string{"db.operation.name=AppendAll"}, sum: 1},
		{name: eventstoreotel.MetricCommits, kv: []string{"db.operation.name=Scan"}, sum: 3},
		{name: eventstoreotel.MetricRequests, kv: []string{"db.operation.name=Scan"}, sum: 2},
		{name: eventstoreotel.MetricCapacity, kv: []string{"db.operation.name=Scan", "eventstore.capacity=read"}, sum: 0.5},
		{name: eventstoreotel.MetricCapacity, kv: []string{"db.operation.name=Append", "eventstore.capacity=write"}, sum: 1},
		{name: eventstoreotel.MetricScanLag, kv: []string{"db.operation.name=Scan"}, sum: 2, count: 1}, // the empty page has no lag
		{name: eventstoreotel.MetricThrottles, kv: []string{"db.operation.name=Scan"}, absent: true},
	} {
		p, ok := find(m, tc.name, tc.kv...)
		switch {
		case tc.absent && ok:
			t.Errorf("%s %v: %+v, want none", tc.name, tc.kv, p)
		case tc.absent:
		case !ok:
			t.Errorf("%s %v: none; have %+v", tc.name, tc.kv, m[tc.name])
		case fmt.Sprintf("%.6f", p.sum) != fmt.Sprintf("%.6f", tc.sum) || p.count != tc.count:
			t.Errorf("%s %v: sum %v count %d, want %v and %d", tc.name, tc.kv, p.sum, p.count, tc.sum, tc.count)
		}
	}
}

func TestObserverErrorTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", eventstore.ErrAggregateExists), "aggregate_exists"},
		{fmt.Errorf("x: %w", eventstore.ErrOutcomeUnknown), "outcome_unknown"},
		{fmt.Errorf("%w: %w", eventstore.ErrOutcomeUnknown, context.Canceled), "outcome_unknown"},
		{context.DeadlineExceeded, "deadline_exceeded"},
		{&eventstore.NotifyError{Err: errors.New("sns down")}, "notify"},
		{fmt.Errorf("query: %w", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}), "ResourceNotFoundException"},
		{errors.New("something"), "_OTHER"},
	} {
		tel := newTelemetry(t)
		tel.observer(t).Observe(context.Background(), eventstore.Observation{Op: eventstore.OpQuery, Err: tc.err})
		if got := spanAttrs(tel.spans.Ended()[0])["error.type"]; got != tc.want {
			t.Errorf("error %v: error.type %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestObserverWithoutProviders: without a provider (the global ones before
// an SDK is set, nil meaning those, or the no-op ones), Observe allocates
// nothing; once an SDK is set as the global provider, even after
// NewObserver, the Observer records. Not parallel: it sets the global
// providers, once for the test binary (the other tests pass their own).
func TestObserverWithoutProviders(t *testing.T) {
	global, err := eventstoreotel.NewObserver(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		new  func() (*eventstoreotel.Observer, error)
	}{
		{"nil", func() (*eventstoreotel.Observer, error) { return eventstoreotel.NewObserver(nil, nil) }},
		{"global", func() (*eventstoreotel.Observer, error) {
			return eventstoreotel.NewObserver(otel.GetTracerProvider(), otel.GetMeterProvider())
		}},
		{"noop", func() (*eventstoreotel.Observer, error) {
			return eventstoreotel.NewObserver(tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
		}},
	} {
		obs, err := tc.new()
		if err != nil || obs == nil {
			t.Fatalf("%s: NewObserver: %v, %v", tc.name, obs, err)
		}
		ob := eventstore.Observation{Op: eventstore.OpAppend, Table: "t", Requests: 1, Err: errors.New("x")}
		allocs := testing.AllocsPerRun(100, func() { obs.Observe(context.Background(), ob) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Observe, want none", tc.name, allocs)
		}
	}
	var none *eventstoreotel.Observer
	none.Observe(context.Background(), eventstore.Observation{}) // no panic

	tel := newTelemetry(t)
	otel.SetTracerProvider(tel.tp)
	otel.SetMeterProvider(tel.mp)
	global.Observe(context.Background(), eventstore.Observation{Op: eventstore.OpQuery, Table: "t", Requests: 1})
	if spans := tel.spans.Ended(); len(spans) != 1 || spans[0].Name() != "Query t" {
		t.Errorf("after the global providers were set: spans %v, want the Query's", spans)
	}
	if _, ok := find(tel.metrics(t), eventstoreotel.MetricRequests, "db.operation.name=Query"); !ok {
		t.Error("after the global providers were set: no requests metric")
	}
}
