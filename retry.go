package eventstore

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/dynacommit/eventstore/internal/retry"
)

// retryFor is how long a read keeps retrying transient errors (throttling,
// 5xx, broken connections) past the SDK's own attempts before it gives up.
const retryFor = time.Minute

// readBackoff is the policy of our own retries of reads: exponential from
// 50 ms to 5 s, for at most retryFor (0: until ctx ends).
func readBackoff(ctx context.Context, limit time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = limit
	return backoff.WithContext(b, ctx)
}

// withRetry runs op until it succeeds, fails with a non-transient error, or
// the policy gives up.
func withRetry[T any](ctx context.Context, op func() (T, error)) (T, error) {
	return backoff.RetryWithData(func() (T, error) {
		v, err := op()
		if err != nil && !retry.Transient(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, readBackoff(ctx, retryFor))
}
