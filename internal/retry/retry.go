// Package retry holds the helpers of the retry loops the store and the
// notifier share.
package retry

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Transient reports whether err is worth retrying, as the SDK's retryer
// judges it: throttling, a server error, a broken connection.
// Cancellation and client errors are not.
func Transient(err error) bool {
	return awsretry.IsErrorRetryables(awsretry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
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
