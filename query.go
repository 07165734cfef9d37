package eventstore

import (
	"context"
	"fmt"
	"iter"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/internal/retry"
)

// Query yields the commits of one aggregate in version order, from
// fromVersion on, with strongly consistent reads: a commit Append stored
// before Query began is seen. It pages through results of any size and sends
// no further request once the caller stops ranging.
//
// An error (ErrInvalidCommit for a bad aggregate id or a negative
// fromVersion, a DynamoDB error, or an
// item that does not decode, wrapping ErrCorruptCommit) is yielded once and
// ends the sequence. Query is safe for concurrent use.
func (s *Store) Query(ctx context.Context, aggregateID string, fromVersion int64) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		ctx := pagesOf(ctx, OpQuery)
		if err := validateAggregateID(aggregateID); err != nil {
			yield(Commit{}, fmt.Errorf("%w: %w", ErrInvalidCommit, err))
			return
		}
		if fromVersion < 0 {
			yield(Commit{}, fmt.Errorf("%w: %w: query aggregate %q from version %d", ErrInvalidCommit, errNegativeVersion, aggregateID, fromVersion))
			return
		}
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.cfg.Table),
			ConsistentRead:           aws.Bool(true),
			KeyConditionExpression:   aws.String("#a = :a AND #v >= :v"),
			ExpressionAttributeNames: map[string]string{"#a": attrAggregateID, "#v": attrVersion},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":a": &types.AttributeValueMemberS{Value: aggregateID},
				":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(fromVersion, 10)},
			},
		}
		for page, err := range s.pages(ctx, in) {
			if err != nil {
				yield(Commit{}, fmt.Errorf("eventstore: query aggregate %q: %w", aggregateID, err))
				return
			}
			commits, err := s.decodePage(ctx, page)
			for _, c := range commits {
				if ctx.Err() != nil { // nothing more once the caller cancelled
					yield(Commit{}, fmt.Errorf("eventstore: query aggregate %q: %w", aggregateID, ctx.Err()))
					return
				}
				if c.AggregateID != aggregateID {
					err = fmt.Errorf("%w: aggregate %q version %d returned by a query of aggregate %q",
						ErrCorruptCommit, c.AggregateID, c.Version, aggregateID)
					break
				}
				s.seen.add(c.AggregateID, c.Version, c.CommitID)
				if !yield(c, nil) {
					return
				}
			}
			if err != nil {
				yield(Commit{}, err)
				return
			}
		}
	}
}

// pages runs in and yields each page of items, following LastEvaluatedKey
// until the last page or until the caller stops. A page that fails with a
// transient error is asked for again, from the same key, so no item is
// skipped or repeated.
func (s *Store) pages(ctx context.Context, in *dynamodb.QueryInput) iter.Seq2[[]map[string]types.AttributeValue, error] {
	return func(yield func([]map[string]types.AttributeValue, error) bool) {
		in := *in
		for {
			out, err := retry.Do(ctx, func() (*dynamodb.QueryOutput, error) { return s.client.Query(ctx, &in, s.opts...) })
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(out.Items, nil) || len(out.LastEvaluatedKey) == 0 {
				return
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
}

// decodePage decodes a page of items, skipping fences (see fence.go) and
// fetching offloaded events in parallel. On error it returns the commits
// before the failing item.
func (s *Store) decodePage(ctx context.Context, items []map[string]types.AttributeValue) ([]Commit, error) {
	commits := make([]Commit, 0, len(items))
	var refs []*blobRef // refs[i] belongs to commits[i]; nil while no commit is offloaded
	var failed error
	for _, item := range items {
		if isFence(item) {
			continue
		}
		c, ref, err := decodeStored(item)
		if err != nil {
			failed = err
			break
		}
		if ref != nil && refs == nil {
			refs = make([]*blobRef, len(commits), len(items))
		}
		if refs != nil {
			refs = append(refs, ref)
		}
		commits = append(commits, c)
	}
	if refs != nil {
		if err := s.fetchAll(ctx, commits, refs); err != nil {
			return nil, err
		}
	}
	return commits, failed
}
