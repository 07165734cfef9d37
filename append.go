package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Append stores c as one item with one conditional PutItem, all its events
// or none, at c.Version of c.AggregateID. It keeps a CommitID the caller set
// (it must be a ULID) and assigns one otherwise; CommittedAt is the instant
// of the CommitID. Whatever the error, the returned Commit carries the
// CommitID, so calling Append again with it is an idempotent retry: if the
// first attempt was stored, the retry reports success and writes nothing.
//
// Errors: a validation error (ErrEmptyAggregateID, ErrNegativeVersion,
// ErrNoEvents, ErrEmptyEventType, ErrInvalidEventData, ErrInvalidCommitID,
// ErrAggregateIDTooLong, ErrCommitTooLarge) before any request, so nothing
// is written; *VersionConflictError when another commit holds the version;
// *NotifyError when the commit was stored but the Notifier failed. Any
// other error (network, timeout, cancelled ctx) leaves the outcome unknown:
// retry with the returned Commit to settle it.
//
// Append is safe for concurrent use.
func (s *Store) Append(ctx context.Context, c Commit) (Commit, error) {
	if c.CommitID == "" {
		id := newCommitID(s.cfg.Now())
		c.CommitID, c.CommittedAt = id.String(), commitTime(id)
	} else if id, err := parseCommitID(c.CommitID); err != nil {
		return c, err
	} else {
		c.CommittedAt = commitTime(id)
	}
	if err := c.validate(); err != nil {
		return c, err
	}
	item, err := encodeItem(c, s.shardOf(c.AggregateID))
	if err != nil {
		return c, err
	}
	if err := s.put(ctx, c, item); err != nil {
		return c, err
	}
	return c, s.notify(ctx, c)
}

// put writes item unless its key is taken. A taken key holding c's own
// CommitID is an earlier attempt of this same commit (an SDK retry after a
// lost response, or the caller's retry): success, nothing written twice.
func (s *Store) put(ctx context.Context, c Commit, item map[string]types.AttributeValue) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.cfg.Table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#a)"),
		ExpressionAttributeNames:            map[string]string{"#a": attrAggregateID},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &failed):
		holder, _ := stringAttr(failed.Item, attrCommitID)
		if holder == c.CommitID {
			return nil
		}
		return &VersionConflictError{AggregateID: c.AggregateID, Version: c.Version, CommitID: holder, Err: err}
	default:
		return fmt.Errorf("eventstore: append aggregate %q version %d (commit %s, outcome unknown): %w",
			c.AggregateID, c.Version, c.CommitID, err)
	}
}

func (s *Store) notify(ctx context.Context, c Commit) error {
	if s.cfg.Notifier == nil {
		return nil
	}
	if err := s.cfg.Notifier.Notify(ctx, c); err != nil {
		return &NotifyError{Commit: c, Err: err}
	}
	return nil
}
