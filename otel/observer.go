package eventstoreotel

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/dynacommit/eventstore"
)

// ScopeName is the instrumentation scope of the tracer and the meter an
// Observer uses.
const ScopeName = "github.com/dynacommit/eventstore/otel"

// Observer is an eventstore.Observer that turns each Observation into a
// span and metrics. Use it as eventstore.Config.Observer. It is safe for
// concurrent use.
type Observer struct {
	tracer trace.Tracer // nil: no spans
	inst   *instruments // nil: no metrics
	// unsetGlobal is the global tracer provider as it is before an SDK is
	// set, when tracer is its: while otel.GetTracerProvider still returns
	// it, every span would be a no-op, so none is started.
	unsetGlobal trace.TracerProvider
}

var _ eventstore.Observer = (*Observer)(nil)

// NewObserver returns an Observer that records spans with tp and metrics
// with mp; nil means the global provider (otel.GetTracerProvider,
// otel.GetMeterProvider), which records once an SDK is set with
// otel.SetTracerProvider or otel.SetMeterProvider, even later.
//
// Without a provider (the global ones before an SDK is set, or the no-op
// ones of go.opentelemetry.io/otel/trace/noop and metric/noop), Observe
// starts no span, builds no attribute and allocates nothing.
//
// Its error, when an instrument cannot be created, joins every such error;
// the Observer returned then still records the other metrics and spans.
func NewObserver(tp trace.TracerProvider, mp metric.MeterProvider) (*Observer, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{}
	if _, noop := tp.(tracenoop.TracerProvider); !noop {
		o.tracer = tp.Tracer(ScopeName)
	}
	if isUnsetGlobal(tp) {
		o.unsetGlobal = tp
	}
	var err error
	if _, noop := mp.(metricnoop.MeterProvider); !noop {
		o.inst, err = newInstruments(mp.Meter(ScopeName))
	}
	return o, err
}

// Observe records the span and the metrics of one operation. It
// implements eventstore.Observer.
func (o *Observer) Observe(ctx context.Context, ob eventstore.Observation) {
	if o == nil {
		return
	}
	if o.tracer != nil && (o.unsetGlobal == nil || otel.GetTracerProvider() != o.unsetGlobal) {
		o.span(ctx, ob)
	}
	if o.inst != nil && o.inst.enabled(ctx) {
		o.inst.record(ctx, ob)
	}
}

// Attribute keys of the spans and metrics. Those without a namespace of
// their own follow the OpenTelemetry semantic conventions for databases.
const (
	keyDBSystem     = attribute.Key("db.system.name")
	keyOperation    = attribute.Key("db.operation.name")
	keyTable        = attribute.Key("db.collection.name")
	keyErrorType    = attribute.Key("error.type")
	keyAggregateID  = attribute.Key("eventstore.aggregate_id")
	keyVersion      = attribute.Key("eventstore.version")
	keyCommitID     = attribute.Key("eventstore.commit_id")
	keyCommits      = attribute.Key("eventstore.commits")
	keyRequests     = attribute.Key("eventstore.requests")
	keyRetries      = attribute.Key("eventstore.retries")
	keyThrottles    = attribute.Key("eventstore.throttles")
	keyReadUnits    = attribute.Key("eventstore.read_units")
	keyWriteUnits   = attribute.Key("eventstore.write_units")
	keyConflicts    = attribute.Key("eventstore.conflicts")
	keyDuplicates   = attribute.Key("eventstore.duplicates")
	keyLateRefusals = attribute.Key("eventstore.late_refusals")
	keyLateLandings = attribute.Key("eventstore.late_landings")
	keyScanLag      = attribute.Key("eventstore.scan_lag")
	keyEvents       = attribute.Key("eventstore.events")
	keyCapacity     = attribute.Key("eventstore.capacity")
)

// isUnsetGlobal reports whether tp is the global tracer provider of the
// OpenTelemetry API as it is before an SDK is set: the one that delegates
// to the SDK once set (otel.SetTracerProvider makes otel.GetTracerProvider
// return the SDK from then on). Should a release of the API rename it,
// this returns false, and the Observer merely starts no-op spans.
func isUnsetGlobal(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return tp == otel.GetTracerProvider() && t.Kind() == reflect.Pointer &&
		t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// span records ob as a client span, child of ctx's span, that began
// ob.Duration ago and ends now.
func (o *Observer) span(ctx context.Context, ob eventstore.Observation) {
	end := time.Now()
	_, span := o.tracer.Start(ctx, string(ob.Op), trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(end.Add(-ob.Duration)))
	if span.IsRecording() {
		if ob.Table != "" {
			span.SetName(string(ob.Op) + " " + ob.Table)
		}
		span.SetAttributes(spanAttributes(ob)...)
		if ob.Err != nil {
			span.SetAttributes(keyErrorType.String(errorType(ob.Err)))
			span.RecordError(ob.Err)
			span.SetStatus(codes.Error, ob.Err.Error())
		}
	}
	span.End(trace.WithTimestamp(end))
}

func spanAttributes(ob eventstore.Observation) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		keyDBSystem.String("aws.dynamodb"),
		keyOperation.String(string(ob.Op)),
		keyTable.String(ob.Table),
		keyCommits.Int(ob.Commits),
		keyRequests.Int(ob.Requests),
		keyRetries.Int(ob.Retries),
		keyThrottles.Int(ob.Throttles),
		keyReadUnits.Float64(ob.ReadUnits),
		keyWriteUnits.Float64(ob.WriteUnits),
		keyConflicts.Int(ob.Conflicts),
		keyDuplicates.Int(ob.Duplicates),
		keyLateRefusals.Int(ob.LateRefusals),
		keyLateLandings.Int(ob.LateLandings),
	}
	if ob.AggregateID != "" {
		attrs = append(attrs, keyAggregateID.String(ob.AggregateID))
	}
	if ob.CommitID != "" {
		attrs = append(attrs, keyVersion.Int64(ob.Version), keyCommitID.String(ob.CommitID))
	}
	if ob.ScanLag > 0 {
		attrs = append(attrs, keyScanLag.Float64(ob.ScanLag.Seconds()))
	}
	return attrs
}

// errorType is the low-cardinality class of an operation's error, for the
// error.type attribute: the store's sentinel it matches, the context's
// error, the DynamoDB error code, or "_OTHER".
func errorType(err error) string {
	for _, class := range errorClasses {
		if errors.Is(err, class.err) {
			return class.name
		}
	}
	if notified := (*eventstore.NotifyError)(nil); errors.As(err, &notified) {
		return "notify"
	}
	if api := smithy.APIError(nil); errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "_OTHER"
}

// errorClasses are matched in order: the most specific first.
var errorClasses = []struct {
	err  error
	name string
}{
	{eventstore.ErrAggregateExists, "aggregate_exists"},
	{eventstore.ErrVersionConflict, "version_conflict"},
	{eventstore.ErrVersionGap, "version_gap"},
	{eventstore.ErrCommitDeadline, "commit_deadline"},
	{eventstore.ErrCommitMismatch, "commit_mismatch"},
	{eventstore.ErrCommitTooLarge, "commit_too_large"},
	{eventstore.ErrInvalidCommit, "invalid_commit"},
	{eventstore.ErrCorruptCommit, "corrupt_commit"},
	{eventstore.ErrShardMismatch, "shard_mismatch"},
	{eventstore.ErrSettleMismatch, "settle_mismatch"},
	{eventstore.ErrTableMismatch, "table_mismatch"},
	{eventstore.ErrOutcomeUnknown, "outcome_unknown"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
}
