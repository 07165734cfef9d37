package notifier

import (
	"context"
	"errors"
	"time"

	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"
	"github.com/dynacommit/eventstore/internal/retry"
)

// snsTransientCodes are SNS error codes worth retrying that the SDK's
// default list does not know: SNS says "Throttled", not "Throttling".
var snsTransientCodes = map[string]bool{
	"Throttled":     true,
	"KMSThrottling": true,
	"InternalError": true,
}

// transient reports whether err is worth retrying: throttling, a server
// error, a broken or refused connection. Cancellation and client errors
// (a missing topic, a bad parameter, no permission) are not.
func transient(err error) bool {
	if retry.Transient(err) {
		return true
	}
	var entry *EntryError
	if errors.As(err, &entry) {
		return !entry.SenderFault || snsTransientCodes[entry.Code] || isThrottleCode(entry.Code)
	}
	var api smithy.APIError
	return errors.As(err, &api) && snsTransientCodes[api.ErrorCode()]
}

func isThrottleCode(code string) bool {
	_, ok := awsretry.DefaultThrottleErrorCodes[code]
	return ok
}

// retry runs op until it succeeds, fails with an error that is not
// transient, RetryFor has passed, or ctx ends. When ctx ends, the error
// joins ctx's error and op's last one.
func (s *SNS) retry(ctx context.Context, op func() error) error {
	if s.cfg.RetryFor < 0 {
		return op()
	}
	policy := backoff.NewExponentialBackOff()
	policy.InitialInterval = 20 * time.Millisecond
	policy.MaxInterval = time.Second
	policy.MaxElapsedTime = s.cfg.RetryFor
	var last error
	err := backoff.Retry(func() error {
		last = op()
		if last != nil && !transient(last) {
			return backoff.Permanent(last)
		}
		return last
	}, backoff.WithContext(policy, ctx))
	if err != nil && last != nil && err != last && !errors.Is(last, err) {
		return errors.Join(err, last)
	}
	return err
}
