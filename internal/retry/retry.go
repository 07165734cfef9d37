// Package retry holds the one retry policy of the store's own loops and
// the notifier's: what counts as transient, how long to wait, and a
// bounded retry of a request.
package retry

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/cenkalti/backoff/v4"
)

// For is how long Do keeps retrying transient errors (throttling, 5xx,
// broken connections) past the SDK's own attempts before it gives up.
const For = time.Minute

// Transient reports whether err is worth retrying, as the SDK's retryer
// judges it: throttling, a server error, a broken connection.
// Cancellation and client errors are not.
func Transient(err error) bool {
	return awsretry.IsErrorRetryables(awsretry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// Throttled reports whether err is DynamoDB (or another AWS service)
// refusing a request for throughput, as the SDK's retryer judges it: the
// request was not applied.
func Throttled(err error) bool {
	return awsretry.IsErrorThrottles(awsretry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// Sleep waits for d, false if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Do runs op until it succeeds, fails with an error that is not
// Transient, ctx ends, or For has passed, waiting exponentially from 50 ms
// to 1 s (±50 %) between attempts.
func Do[T any](ctx context.Context, op func() (T, error)) (T, error) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = time.Second
	b.MaxElapsedTime = For
	return backoff.RetryWithData(func() (T, error) {
		v, err := op()
		if err != nil && !Transient(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, backoff.WithContext(b, ctx))
}
