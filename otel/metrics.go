package eventstoreotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/dynacommit/eventstore"
)

// Names of the metrics an Observer records. Each has the attributes
// db.operation.name (the Op) and db.collection.name (the table), and
// error.type when the operation failed; eventstore.consumed_capacity has
// eventstore.capacity ("read" or "write") as well.
const (
	// MetricDuration (histogram, seconds) is the latency of each
	// operation: a write, a LatestVersion, or one page of Query, Scan or
	// Tail.
	MetricDuration = "eventstore.operation.duration"
	// MetricRequests, MetricRetries and MetricThrottles (counters) count
	// the DynamoDB requests sent, the attempts beyond the first (the SDK's
	// and the store's own), and the attempts DynamoDB throttled.
	MetricRequests  = "eventstore.requests"
	MetricRetries   = "eventstore.retries"
	MetricThrottles = "eventstore.throttles"
	// MetricCapacity (counter, capacity units) is the capacity DynamoDB
	// reported consumed.
	MetricCapacity = "eventstore.consumed_capacity"
	// MetricCommits (counter) counts the commits stored or read.
	MetricCommits = "eventstore.commits"
	// MetricConflicts, MetricDuplicates, MetricLateRefusals and
	// MetricLateLandings (counters) count version conflicts, commits
	// found stored by an earlier attempt, commits refused by the writer
	// deadline, and commits stored that Append learned of only after it
	// (see eventstore.Observation).
	MetricConflicts    = "eventstore.conflicts"
	MetricDuplicates   = "eventstore.duplicates"
	MetricLateRefusals = "eventstore.late_refusals"
	MetricLateLandings = "eventstore.late_landings"
	// MetricScanLag (histogram, seconds) is, for each page of a Tail or a
	// Scan that read commits, the age of its newest commit: how far the
	// reader trails the writers.
	MetricScanLag = "eventstore.scan.lag"
)

// durationBuckets suit DynamoDB latencies, a few milliseconds to seconds.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// lagBuckets suit a reader's lag: the settle window (seconds) and beyond.
var lagBuckets = []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

type instruments struct {
	duration, scanLag                                 metric.Float64Histogram
	requests, retries, throttles, commits             metric.Int64Counter
	conflicts, duplicates, lateRefusals, lateLandings metric.Int64Counter
	capacity                                          metric.Float64Counter
	all                                               []interface{ Enabled(context.Context) bool }
	readCapacity, writeCapacity                       attribute.KeyValue
}

// newInstruments creates the instruments of m, joining the errors of those
// it could not create (each is then a no-op).
func newInstruments(m metric.Meter) (*instruments, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		check(err)
		return c
	}
	i := &instruments{readCapacity: keyCapacity.String("read"), writeCapacity: keyCapacity.String("write")}
	var err error
	i.duration, err = m.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of eventstore operations (a page of Query, Scan or Tail)."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	i.scanLag, err = m.Float64Histogram(MetricScanLag, metric.WithUnit("s"),
		metric.WithDescription("Age of the newest commit of each page of a Tail or Scan."),
		metric.WithExplicitBucketBoundaries(lagBuckets...))
	check(err)
	i.capacity, err = m.Float64Counter(MetricCapacity, metric.WithUnit("{capacity_unit}"),
		metric.WithDescription("DynamoDB capacity units consumed."))
	check(err)
	i.requests = counter(MetricRequests, "{request}", "DynamoDB requests sent.")
	i.retries = counter(MetricRetries, "{attempt}", "Attempts beyond the first, the SDK's and the store's.")
	i.throttles = counter(MetricThrottles, "{attempt}", "Attempts DynamoDB throttled.")
	i.commits = counter(MetricCommits, "{commit}", "Commits stored or read.")
	i.conflicts = counter(MetricConflicts, "{conflict}", "Version conflicts met.")
	i.duplicates = counter(MetricDuplicates, "{commit}", "Commits found stored by an earlier attempt.")
	i.lateRefusals = counter(MetricLateRefusals, "{commit}", "Commits refused by the writer deadline.")
	i.lateLandings = counter(MetricLateLandings, "{commit}", "Commits stored that Append learned of only after the writer deadline.")
	i.all = []interface{ Enabled(context.Context) bool }{i.duration, i.scanLag, i.capacity, i.requests, i.retries,
		i.throttles, i.commits, i.conflicts, i.duplicates, i.lateRefusals, i.lateLandings}
	return i, errors.Join(errs...)
}

// enabled reports whether any instrument records anything, so that an
// Observer of a meter provider without an SDK builds no attributes.
func (i *instruments) enabled(ctx context.Context) bool {
	for _, inst := range i.all {
		if inst.Enabled(ctx) {
			return true
		}
	}
	return false
}

// record adds ob to the metrics.
func (i *instruments) record(ctx context.Context, ob eventstore.Observation) {
	kv := make([]attribute.KeyValue, 2, 3)
	kv[0], kv[1] = keyOperation.String(string(ob.Op)), keyTable.String(ob.Table)
	if ob.Err != nil {
		kv = append(kv, keyErrorType.String(errorType(ob.Err)))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	i.duration.Record(ctx, ob.Duration.Seconds(), set)
	if ob.ScanLag > 0 {
		i.scanLag.Record(ctx, ob.ScanLag.Seconds(), set)
	}
	add := func(c metric.Int64Counter, n int) {
		if n > 0 {
			c.Add(ctx, int64(n), set)
		}
	}
	add(i.requests, ob.Requests)
	add(i.retries, ob.Retries)
	add(i.throttles, ob.Throttles)
	add(i.commits, ob.Commits)
	add(i.conflicts, ob.Conflicts)
	add(i.duplicates, ob.Duplicates)
	add(i.lateRefusals, ob.LateRefusals)
	add(i.lateLandings, ob.LateLandings)
	if ob.ReadUnits > 0 {
		i.capacity.Add(ctx, ob.ReadUnits, metric.WithAttributeSet(attribute.NewSet(append(kv, i.readCapacity)...)))
	}
	if ob.WriteUnits > 0 {
		i.capacity.Add(ctx, ob.WriteUnits, metric.WithAttributeSet(attribute.NewSet(append(kv, i.writeCapacity)...)))
	}
}
