package eventstore

import (
	"context"
	"fmt"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// LatestVersion returns the highest version of the aggregate's commits, or
// -1 if it has none, with one strongly consistent Query (newest first,
// Limit 1): a commit stored before the call began is seen. The next commit
// of the aggregate has version LatestVersion+1.
//
// Errors: ErrInvalidCommit for a bad aggregate id, before any
// request; a DynamoDB error after retries of throttling and server errors;
// ErrCorruptCommit for an item that does not decode; ErrAggregateDeleted
// for an aggregate Delete deleted. It is safe for concurrent use.
func (s *Store) LatestVersion(ctx context.Context, aggregateID string) (int64, error) {
	ctx, t := s.observe(ctx, OpLatestVersion)
	v, _, err := s.latest(ctx, aggregateID)
	return v, s.done(ctx, t, 0, err)
}

// Exists reports whether the aggregate has at least one commit, with the
// one consistent Query of LatestVersion, whose errors it returns. It is
// safe for concurrent use.
func (s *Store) Exists(ctx context.Context, aggregateID string) (bool, error) {
	v, err := s.LatestVersion(ctx, aggregateID)
	return v >= 0, err
}

// latest returns the highest version of the aggregate and the CommitID
// that holds it, or -1 and "". It reads newest first, one item a page,
// past any fence (see outcome.go), which is rare: almost always one request.
func (s *Store) latest(ctx context.Context, aggregateID string) (int64, string, error) {
	if err := validateAggregateID(aggregateID); err != nil {
		return -1, "", fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	in := s.versionsQuery(aggregateID, ">=", 0)
	in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(1)
	in.ProjectionExpression = aws.String("#v, #c, #r, #d")
	maps.Copy(in.ExpressionAttributeNames, map[string]string{"#c": attrCommitID, "#r": attrRefused, "#d": attrDeleted})
	for page, err := range s.pages(ctx, in) {
		if err != nil {
			return -1, "", fmt.Errorf("eventstore: latest version of aggregate %q: %w", aggregateID, err)
		}
		for _, item := range page {
			if isDeleted(item) { // a tombstone or its guard, however old: no append may follow it
				return -1, "", deletedError(aggregateID, "append to it")
			}
			if isFence(item) {
				continue
			}
			v, err := numberAttr(item, attrVersion)
			if err == nil {
				var id string
				if id, err = stringAttr(item, attrCommitID); err == nil {
					s.seen.add(aggregateID, v, id)
					return v, id, nil
				}
			}
			return -1, "", fmt.Errorf("%w: aggregate %q: latest commit: %v", ErrCorruptCommit, aggregateID, err)
		}
	}
	return -1, "", nil
}
