package notifier

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/dynacommit/eventstore"
)

// SNSAPI lists the SNS operations the notifier calls. *sns.Client satisfies
// it; tests and users may wrap it.
type SNSAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
	PublishBatch(ctx context.Context, in *sns.PublishBatchInput, optFns ...func(*sns.Options)) (*sns.PublishBatchOutput, error)
}

var _ SNSAPI = (*sns.Client)(nil)

// BatchNotifier is a Notifier that can also announce several commits with
// one call, in the order given. The Relay uses NotifyBatch when its
// Notifier implements it. When NotifyBatch fails, any prefix of the commits
// may have been announced, and the caller announces them all again.
type BatchNotifier interface {
	eventstore.Notifier
	NotifyBatch(ctx context.Context, commits []eventstore.Commit) error
}

var (
	_ eventstore.Notifier = (*SNS)(nil)
	_ BatchNotifier       = (*SNS)(nil)
)

// DefaultRetryFor is how long one Notify or NotifyBatch keeps retrying
// transient errors by default.
const DefaultRetryFor = 5 * time.Second

// maxBatchEntries is SNS's limit on the entries of one PublishBatch.
const maxBatchEntries = 10

// SNSConfig configures an SNS notifier. Zero values mean the documented
// defaults.
type SNSConfig struct {
	// TopicARN is the topic every commit is published to (required). A
	// name ending in ".fifo" makes it a FIFO topic: see SNS.
	TopicARN string
	// RetryFor bounds how long one Notify or NotifyBatch retries transient
	// errors (throttling, 5xx, network), with exponential backoff from
	// 20 ms to 1 s, on top of the SDK's own attempts; default
	// DefaultRetryFor; negative: no retries beyond the SDK's.
	RetryFor time.Duration
}

func (c *SNSConfig) setDefaults() {
	if c.RetryFor == 0 {
		c.RetryFor = DefaultRetryFor
	}
}

// SNS publishes commits to an Amazon SNS topic, one message per commit:
// body an Envelope, message attributes aggregateId, version, commitId and
// eventTypes (see AttrAggregateID and the others). On a FIFO topic, the
// MessageGroupId is the aggregate (GroupID), so each aggregate's commits
// arrive in order, and the MessageDeduplicationId identifies the commit by
// aggregate and version (DeduplicationID: not the CommitID, which commits of
// different aggregates may share), so a commit published twice within SNS's
// 5-minute deduplication window (a retried Append, a relay restarting) is
// delivered once. Standard topics get neither.
//
// A commit whose message would exceed MaxMessageBytes is published as a
// marker without its events (Envelope.EventsOmitted): publishing never
// fails for size.
//
// Used as eventstore.Config.Notifier, SNS is called by Append after the
// commit is stored. If publishing fails past the retries, Append returns the
// stored commit with an *eventstore.NotifyError: the commit IS durable, and
// calling Append again with that commit publishes it again. SNS is safe for
// concurrent use.
type SNS struct {
	client SNSAPI
	cfg    SNSConfig
	fifo   bool
}

// NewSNS returns a notifier publishing to cfg.TopicARN with client. It
// sends no request; it fails with ErrInvalidTopicARN for a malformed ARN.
func NewSNS(client SNSAPI, cfg SNSConfig) (*SNS, error) {
	if client == nil {
		return nil, fmt.Errorf("notifier: nil SNS client")
	}
	cfg.setDefaults()
	fifo, err := parseTopicARN(cfg.TopicARN)
	if err != nil {
		return nil, err
	}
	return &SNS{client: client, cfg: cfg, fifo: fifo}, nil
}

var topicName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// parseTopicARN checks an SNS topic ARN and reports whether it names a FIFO
// topic.
func parseTopicARN(s string) (fifo bool, err error) {
	a, err := arn.Parse(s)
	if err != nil {
		return false, fmt.Errorf("%w: %q: %v", ErrInvalidTopicARN, s, err)
	}
	name, fifo := strings.CutSuffix(a.Resource, ".fifo")
	switch {
	case a.Service != "sns":
		return false, fmt.Errorf("%w: %q is an ARN of service %q, not sns", ErrInvalidTopicARN, s, a.Service)
	case a.Partition == "" || a.Region == "":
		return false, fmt.Errorf("%w: %q has no partition or region", ErrInvalidTopicARN, s)
	case !isAccountID(a.AccountID):
		return false, fmt.Errorf("%w: %q: account %q is not 12 digits", ErrInvalidTopicARN, s, a.AccountID)
	case !topicName.MatchString(name) || len(a.Resource) > 256:
		return false, fmt.Errorf("%w: %q: topic name %q must be 1 to 256 letters, digits, '-' or '_' (with .fifo)",
			ErrInvalidTopicARN, s, a.Resource)
	}
	return fifo, nil
}

func isAccountID(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return len(s) == 12 && err == nil
}

// TopicARN returns the topic the notifier publishes to.
func (s *SNS) TopicARN() string { return s.cfg.TopicARN }

// FIFO reports whether the topic is a FIFO topic.
func (s *SNS) FIFO() bool { return s.fifo }

// Notify publishes c with one Publish, retrying transient errors for up to
// SNSConfig.RetryFor, or until ctx ends. Its error names the commit and
// unwraps to the SNS error (or to ctx's error, joined with the last SNS
// error). It implements eventstore.Notifier.
func (s *SNS) Notify(ctx context.Context, c eventstore.Commit) error {
	m := newMessage(c, s.fifo)
	in := s.publishInput(m)
	err := s.retry(ctx, func() error {
		_, err := s.client.Publish(ctx, in)
		return err
	})
	if err != nil {
		return fmt.Errorf("notifier: publish commit %s (aggregate %q version %d) to %s: %w",
			c.CommitID, c.AggregateID, c.Version, s.cfg.TopicARN, err)
	}
	return nil
}

func (s *SNS) publishInput(m message) *sns.PublishInput {
	in := &sns.PublishInput{
		TopicArn:          aws.String(s.cfg.TopicARN),
		Message:           aws.String(m.body),
		MessageAttributes: m.attrs,
	}
	if s.fifo {
		in.MessageGroupId = aws.String(m.group)
		in.MessageDeduplicationId = aws.String(m.dedup)
	}
	return in
}

// NotifyBatch publishes commits in order with PublishBatch, up to 10 per
// request and 256 KiB in total. It retries transient errors, entries that
// failed included, for up to SNSConfig.RetryFor per request; a retry sends
// again every entry from the first one that failed, so the order holds, and
// an entry that had succeeded after it is published twice (once on a FIFO
// topic). It implements BatchNotifier.
func (s *SNS) NotifyBatch(ctx context.Context, commits []eventstore.Commit) error {
	msgs := make([]message, len(commits))
	for i, c := range commits {
		msgs[i] = newMessage(c, s.fifo)
	}
	for len(msgs) > 0 {
		n := batchLen(msgs)
		if err := s.publishBatch(ctx, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// batchLen is how many of msgs, at least one, fit in one PublishBatch.
func batchLen(msgs []message) int {
	n, size := 0, 0
	for n < len(msgs) && n < maxBatchEntries && size+msgs[n].size() <= MaxMessageBytes {
		size += msgs[n].size()
		n++
	}
	return max(n, 1)
}

// publishBatch publishes msgs with one PublishBatch, retrying from the first
// entry that failed.
func (s *SNS) publishBatch(ctx context.Context, msgs []message) error {
	pending := msgs
	err := s.retry(ctx, func() error {
		out, err := s.client.PublishBatch(ctx, s.batchInput(pending))
		if err != nil {
			return err
		}
		first, failure := firstFailed(out.Failed, len(pending))
		if failure != nil {
			pending = pending[first:]
		}
		return failure
	})
	if err != nil {
		c := pending[0].commit
		return fmt.Errorf("notifier: publish batch from commit %s (aggregate %q version %d) to %s: %w",
			c.CommitID, c.AggregateID, c.Version, s.cfg.TopicARN, err)
	}
	return nil
}

func (s *SNS) batchInput(msgs []message) *sns.PublishBatchInput {
	entries := make([]types.PublishBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.PublishBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			Message:           aws.String(m.body),
			MessageAttributes: m.attrs,
		}
		if s.fifo {
			entries[i].MessageGroupId = aws.String(m.group)
			entries[i].MessageDeduplicationId = aws.String(m.dedup)
		}
	}
	return &sns.PublishBatchInput{TopicArn: aws.String(s.cfg.TopicARN), PublishBatchRequestEntries: entries}
}

// firstFailed returns the index of the first failed entry of a batch of n
// and its error, or nil if none failed.
func firstFailed(failed []types.BatchResultErrorEntry, n int) (int, error) {
	first := -1
	var failure *EntryError
	for _, f := range failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= n {
			i = 0 // an Id we did not send: retry the whole batch
		}
		if first < 0 || i < first {
			first = i
			failure = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
		}
	}
	if failure == nil {
		return 0, nil
	}
	return first, failure
}

// EntryError is the failure of one entry of a PublishBatch.
type EntryError struct {
	Code, Message string
	// SenderFault is SNS's verdict that the request, not the service, was
	// at fault. Such entries are retried only when throttled.
	SenderFault bool
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("batch entry failed: %s: %s", e.Code, e.Message)
}

// ErrorCode returns the SNS error code, as smithy.APIError does.
func (e *EntryError) ErrorCode() string { return e.Code }
