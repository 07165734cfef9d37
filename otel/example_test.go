package eventstoreotel_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/dynacommit/eventstore"
	eventstoreotel "github.com/dynacommit/eventstore/otel"
)

// The producer injects its trace context into the commit before Append;
// whoever reads the commit back starts a span linked to the producer's.
func ExampleStartConsumerSpan() {
	recorder := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)).Tracer("example")

	ctx, producer := tracer.Start(context.Background(), "handle deposit")
	c := eventstore.Commit{AggregateID: "account#1", Events: []eventstore.Event{{Type: "deposited"}}}
	eventstoreotel.Inject(ctx, &c) // then store.Append(ctx, c)
	producer.End()

	// Later, c as a Tail yields it:
	_, span := eventstoreotel.StartConsumerSpan(context.Background(), tracer, c)
	span.End()

	consumer := recorder.Ended()[1]
	fmt.Println(consumer.Name(), consumer.SpanKind())
	fmt.Println(consumer.Links()[0].SpanContext.SpanID() == producer.SpanContext().SpanID())
	// Output:
	// process commit consumer
	// true
}
