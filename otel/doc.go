// Package eventstoreotel connects an eventstore.Store to OpenTelemetry: a
// span and metrics for every operation the store reports to its Observer,
// and the W3C trace context of an Append carried in the commit's metadata
// (and from there in the SNS notifier's message attributes), so that the
// span of whoever consumes the commit, through a Tail, a projection or an
// SQS queue, links to the span that produced it.
//
// It is a module of its own, so that the store itself does not depend on
// OpenTelemetry.
//
// # Basics
//
//	obs, err := eventstoreotel.NewObserver(tracerProvider, meterProvider)
//	store, err := eventstore.New(client, eventstore.Config{Table: "events", Observer: obs})
//
//	// producer: the commit carries the trace context of ctx's span
//	eventstoreotel.Inject(ctx, &commit)
//	store.Append(ctx, commit)
//
//	// consumer: a span linked to the producer's
//	for c, err := range store.Tail(ctx, checkpoint, eventstore.Live()) {
//		ctx, span := eventstoreotel.StartConsumerSpan(ctx, tracer, c)
//		...
//		span.End()
//	}
//
// The spans, their attributes and the metrics are listed in
// docs/opentelemetry.md of the repository.
//
// # Caveats
//
// Update builds its commit itself, without metadata, so its commits carry no
// trace context (its span, OpUpdate, names the commit it stored).
// AppendAll's span names no commit (its Commits attribute counts them).
// Tail and Scan report one span per page request, polls of a live Tail
// included: sample them as any other high-rate span.
package eventstoreotel
