package eventstoreotel

import (
	"context"
	"maps"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

// The commit metadata keys that carry the W3C Trace Context of the span
// that appended a commit: the headers' own names, which the SNS notifier
// copies into message attributes of the same names (notifier.AttrTraceparent,
// notifier.AttrTracestate).
const (
	MetadataTraceparent = "traceparent"
	MetadataTracestate  = "tracestate"
)

// w3c is the W3C Trace Context format, whatever the global propagator is:
// the metadata of a stored commit must read alike in every service.
var w3c = propagation.TraceContext{}

// Inject writes the W3C trace context of ctx's span into c.Metadata
// (traceparent, and tracestate when the span has one), before c is
// appended, replacing any trace context c had. c.Metadata is copied first,
// so a map the caller shares with other commits is not changed. Without a
// valid span in ctx, c is left as it is.
func Inject(ctx context.Context, c *eventstore.Commit) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	md := make(map[string]string, len(c.Metadata)+2)
	maps.Copy(md, c.Metadata)
	delete(md, MetadataTraceparent)
	delete(md, MetadataTracestate)
	w3c.Inject(ctx, propagation.MapCarrier(md))
	c.Metadata = md
}

// Extract returns ctx with the span context of the span that appended c,
// read from its metadata (see Inject), as a remote span context: a span
// started from the returned context is a child of the producer's. Without
// a valid trace context in c, it returns ctx unchanged.
func Extract(ctx context.Context, c eventstore.Commit) context.Context {
	return w3c.Extract(ctx, propagation.MapCarrier(c.Metadata))
}

// Producer returns the span context of the span that appended c, read
// from its metadata; it is not valid when c has none.
func Producer(c eventstore.Commit) trace.SpanContext {
	return producerOf(propagation.MapCarrier(c.Metadata))
}

// producerOf reads a span context from carrier alone, not from any context
// of the caller (only the carrier is parsed; nothing is sent).
func producerOf(carrier propagation.TextMapCarrier) trace.SpanContext {
	return trace.SpanContextFromContext(w3c.Extract(context.Background(), carrier))
}

// StartConsumerSpan starts the span of processing c, a commit read from
// the store (a Tail, a Query, a projection): a consumer span, child of
// ctx's span, with a link to the span that appended c when c's metadata
// carries its trace context (see Inject), and the attributes
// eventstore.aggregate_id, eventstore.version, eventstore.commit_id and
// eventstore.events. opts add to those. The caller ends the span.
func StartConsumerSpan(ctx context.Context, tracer trace.Tracer, c eventstore.Commit, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		keyAggregateID.String(c.AggregateID),
		keyVersion.Int64(c.Version),
		keyCommitID.String(c.CommitID),
		keyEvents.Int(len(c.Events)),
	}
	return startConsumer(ctx, tracer, Producer(c), attrs, opts)
}

// sqsCarrier reads the string message attributes of an SQS message.
type sqsCarrier map[string]sqstypes.MessageAttributeValue

func (c sqsCarrier) Get(key string) string { return aws.ToString(c[key].StringValue) }
func (c sqsCarrier) Set(string, string)    {} // read only
func (c sqsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// ExtractMessage returns ctx with the span context of the span that
// appended the commit of an SQS message the SNS notifier published (raw
// message delivery), read from its message attributes traceparent and
// tracestate. Without them, it returns ctx unchanged. (With the SNS
// notification wrapped in the body, read the trace context from the
// envelope's metadata: Extract(ctx, envelope.Commit()).)
func ExtractMessage(ctx context.Context, attrs map[string]sqstypes.MessageAttributeValue) context.Context {
	return w3c.Extract(ctx, sqsCarrier(attrs))
}

// StartMessageSpan starts the span of processing an SQS message the SNS
// notifier published (raw message delivery): a consumer span, child of
// ctx's span, with a link to the span that appended the commit when the
// message attributes carry its trace context, and the attributes
// eventstore.aggregate_id, eventstore.version and eventstore.commit_id
// from the message attributes of those names. It reads the trace context
// from the attributes, not from the body, so it links even the marker of
// an oversized commit. The caller ends the span.
func StartMessageSpan(ctx context.Context, tracer trace.Tracer, msg sqstypes.Message, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	attrs := sqsCarrier(msg.MessageAttributes)
	kv := []attribute.KeyValue{
		keyAggregateID.String(attrs.Get(notifier.AttrAggregateID)),
		keyCommitID.String(attrs.Get(notifier.AttrCommitID)),
	}
	if v, err := strconv.ParseInt(attrs.Get(notifier.AttrVersion), 10, 64); err == nil {
		kv = append(kv, keyVersion.Int64(v))
	}
	return startConsumer(ctx, tracer, producerOf(attrs), kv, opts)
}

// startConsumer starts a consumer span "process commit" linked to
// producer, if valid.
func startConsumer(ctx context.Context, tracer trace.Tracer, producer trace.SpanContext,
	attrs []attribute.KeyValue, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	all := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if producer.IsValid() {
		all = append(all, trace.WithLinks(trace.Link{SpanContext: producer}))
	}
	return tracer.Start(ctx, "process commit", append(all, opts...)...)
}
