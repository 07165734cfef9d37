package eventstoreotel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
	eventstoreotel "github.com/dynacommit/eventstore/otel"
)

func TestInjectExtract(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	ts, err := trace.ParseTraceState("vendor=x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tel.tp.Tracer("test").Start(context.Background(), "producer")
	defer span.End()
	sc := span.SpanContext().WithTraceState(ts)
	ctx = trace.ContextWithSpanContext(ctx, sc)

	shared := map[string]string{"user": "ann", "traceparent": "00-stale"}
	c := eventstore.Commit{AggregateID: "a", Metadata: shared}
	eventstoreotel.Inject(ctx, &c)
	if len(shared) != 2 || shared["traceparent"] != "00-stale" {
		t.Errorf("Inject changed the caller's map: %v", shared)
	}
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if c.Metadata["traceparent"] != want || c.Metadata["tracestate"] != "vendor=x" || c.Metadata["user"] != "ann" {
		t.Errorf("metadata %v, want traceparent %s, tracestate vendor=x and the user kept", c.Metadata, want)
	}
	got := trace.SpanContextFromContext(eventstoreotel.Extract(context.Background(), c))
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || got.TraceState().String() != "vendor=x" {
		t.Errorf("Extract = %+v, want the producer's span context, remote", got)
	}
	if p := eventstoreotel.Producer(c); !p.Equal(got) {
		t.Errorf("Producer = %+v, want %+v", p, got)
	}

	bare := eventstore.Commit{AggregateID: "a", Metadata: map[string]string{"user": "ann"}}
	eventstoreotel.Inject(context.Background(), &bare)
	if len(bare.Metadata) != 1 {
		t.Errorf("Inject without a span: metadata %v, want it unchanged", bare.Metadata)
	}
	if p := eventstoreotel.Producer(bare); p.IsValid() {
		t.Errorf("Producer of a commit without trace context: %+v, want invalid", p)
	}
	// A consumer span of a commit without trace context has no link, and
	// one with garbage is the same (no panic, no link).
	for _, md := range []map[string]string{nil, {"traceparent": "garbage"}, {"traceparent": "00-00000000000000000000000000000000-0000000000000000-01"}} {
		_, s := eventstoreotel.StartConsumerSpan(context.Background(), tel.tp.Tracer("test"), eventstore.Commit{AggregateID: "a", Metadata: md})
		s.End()
	}
	for _, s := range tel.spans.Ended() {
		if s.Name() == "process commit" && len(s.Links()) != 0 {
			t.Errorf("consumer span without a valid producer has links %v", s.Links())
		}
	}
}

// TestAppendThenLiveTailLinksToProducer is the definition of done:
// an Append followed by a live Tail produces a consumer span linked to the
// producer's, through the commit's metadata and through SNS (an SQS
// subscriber's span links to it as well), and the metrics are exported.
func TestAppendThenLiveTailLinksToProducer(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(t)
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	sns, err := notifier.NewSNS(snstest.SNSClient(t), notifier.SNSConfig{TopicARN: topic})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := dynamotest.NewStore(t, eventstore.Config{
		Observer: tel.observer(t), Notifier: sns,
		MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance,
	})
	tracer := tel.tp.Tracer("test")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The consumer: a live Tail, caught up before the producer appends.
	caughtUp := make(chan struct{})
	var once sync.Once
	type consumed struct {
		commit eventstore.Commit
		span   trace.Span
	}
	got := make(chan consumed, 1)
	tailCtx, stopTail := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for c, err := range store.Tail(tailCtx, "", eventstore.Live(), eventstore.OnCaughtUp(func() { once.Do(func() { close(caughtUp) }) })) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Tail: %v", err)
				}
				return
			}
			_, span := eventstoreotel.StartConsumerSpan(tailCtx, tracer, c)
			span.End()
			got <- consumed{c, span}
			return
		}
	})
	defer wg.Wait()
	defer stopTail()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		t.Fatal("Tail did not catch up")
	}

	// The producer: a command handler's span, its trace context injected.
	pctx, producer := tracer.Start(ctx, "handle deposit")
	c := eventstore.Commit{AggregateID: "account#1", Events: []eventstore.Event{{Type: "deposited"}}}
	eventstoreotel.Inject(pctx, &c)
	stored, err := store.Append(pctx, c)
	producer.End()
	if err != nil {
		t.Fatal(err)
	}
	psc := producer.SpanContext()

	var tailed consumed
	select {
	case tailed = <-got:
	case <-ctx.Done():
		t.Fatal("Tail did not yield the commit")
	}
	stopTail()
	if tailed.commit.CommitID != stored.CommitID || tailed.commit.Metadata["traceparent"] == "" {
		t.Errorf("Tail yielded %+v, want commit %s with its traceparent", tailed.commit, stored.CommitID)
	}
	linkedTo(t, "Tail consumer", tel, tailed.span.SpanContext().SpanID(), psc)

	// Through SNS: an SQS subscriber reads the producer from the message
	// attributes.
	msg := receiveOne(t, ctx, queue)
	if a := msg.MessageAttributes[notifier.AttrTraceparent]; aws.ToString(a.StringValue) != c.Metadata["traceparent"] {
		t.Errorf("message attribute traceparent %q, want the commit's %q", aws.ToString(a.StringValue), c.Metadata["traceparent"])
	}
	if sc := trace.SpanContextFromContext(eventstoreotel.ExtractMessage(context.Background(), msg.MessageAttributes)); !sc.IsValid() || sc.SpanID() != psc.SpanID() {
		t.Errorf("ExtractMessage = %+v, want the producer's span context", sc)
	}
	_, mspan := eventstoreotel.StartMessageSpan(ctx, tracer, msg)
	mspan.End()
	linkedTo(t, "SQS consumer", tel, mspan.SpanContext().SpanID(), psc)

	// The Append's span is the producer's child and names the commit.
	var appendSpan, scanSpans int
	for _, s := range tel.spans.Ended() {
		switch {
		case s.Name() == "Append "+tableOf(s) && s.Parent().SpanID() == psc.SpanID():
			a := spanAttrs(s)
			if a["eventstore.aggregate_id"] != "account#1" || a["eventstore.version"] != "0" || a["eventstore.commit_id"] != stored.CommitID {
				t.Errorf("Append span attributes %v, want the commit account#1 v0 %s", a, stored.CommitID)
			}
			appendSpan++
		case s.Name() == "Scan "+tableOf(s):
			scanSpans++
		}
	}
	if appendSpan != 1 || scanSpans == 0 {
		t.Errorf("%d Append spans under the producer and %d Scan spans (Tail pages and polls), want 1 and some", appendSpan, scanSpans)
	}
	m := tel.metrics(t)
	for _, want := range []struct{ name, op string }{
		{eventstoreotel.MetricDuration, "Append"}, {eventstoreotel.MetricDuration, "Scan"},
		{eventstoreotel.MetricScanLag, "Scan"}, {eventstoreotel.MetricCommits, "Append"},
		{eventstoreotel.MetricCapacity, "Append"}, {eventstoreotel.MetricRequests, "Scan"},
	} {
		if _, ok := find(m, want.name, "db.operation.name="+want.op); !ok {
			t.Errorf("no %s for %s exported", want.name, want.op)
		}
	}
}

func tableOf(s sdktrace.ReadOnlySpan) string { return spanAttrs(s)["db.collection.name"] }

// linkedTo checks that the ended span id is a consumer span linked to
// producer.
func linkedTo(tb testing.TB, what string, tel *telemetry, id trace.SpanID, producer trace.SpanContext) {
	tb.Helper()
	for _, s := range tel.spans.Ended() {
		if s.SpanContext().SpanID() != id {
			continue
		}
		links := s.Links()
		if s.SpanKind() != trace.SpanKindConsumer || len(links) != 1 ||
			links[0].SpanContext.TraceID() != producer.TraceID() || links[0].SpanContext.SpanID() != producer.SpanID() {
			tb.Errorf("%s span: kind %v, links %+v; want a consumer linked to the producer %v", what, s.SpanKind(), links, producer)
		}
		return
	}
	tb.Errorf("%s span not recorded", what)
}

// receiveOne returns the first message of q, with its message attributes.
func receiveOne(tb testing.TB, ctx context.Context, q *snstest.Queue) sqstypes.Message {
	tb.Helper()
	client := snstest.SQSClient(tb)
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			tb.Fatalf("receive: %v", err)
		}
		if len(out.Messages) > 0 {
			return out.Messages[0]
		}
	}
	tb.Fatal("no message received")
	return sqstypes.Message{}
}
