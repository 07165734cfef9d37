package eventstore

import (
	"context"
	"fmt"
	"iter"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DefaultAggregatesIndex is the name to give Config.AggregatesIndex when
// there is no reason to choose another.
const DefaultAggregatesIndex = "aggregatesByFirstCommit"

// Aggregates yields the id of every aggregate that has a version-0 commit,
// once each, in the order of those first commits' CommitIDs (creation
// order), across shards and pages. It reads the sparse index
// Config.AggregatesIndex: only version-0 commits carry its key (the
// aggregateShard attribute), and it projects only keys, so listing costs
// about 0.5 read units per 4 KB of ids (some 40 ids), whatever the size of
// the aggregates.
//
// The index is eventually consistent: an aggregate created a moment ago
// may be missing, so use Exists for one aggregate. An aggregate whose
// version 0 is gone (expired under Config.TTL) or was never written is not
// listed; the table's metadata item never is.
//
// An error (a plain one without the index, ErrShardMismatch, a
// DynamoDB error after retries, ErrCorruptCommit for an index entry without
// ids) is yielded once and ends the sequence. It sends no request once the
// caller stops ranging, and is safe for concurrent use.
func (s *Store) Aggregates(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		ctx, t := s.observe(ctx, OpAggregates)
		n, err := s.aggregates(ctx, yield)
		s.done(ctx, t, n, err)
	}
}

// aggregates merges the shards of the index by CommitID; it returns how
// many ids it yielded and the error it yielded, if any.
func (s *Store) aggregates(ctx context.Context, yield func(string, error) bool) (int, error) {
	fail := func(err error) (int, error) {
		yield("", err)
		return 0, err
	}
	if s.cfg.AggregatesIndex == "" {
		return fail(errNoAggregatesIndex)
	}
	if err := s.checkShards(ctx); err != nil {
		return fail(err)
	}
	sched, err := s.scheduleThrough(ctx, s.cfg.now())
	if err != nil {
		return fail(err)
	}
	// Every shard of every epoch: the newest count's, since counts grow.
	sources := make([]sorted[firstCommit], sched.last().Shards)
	for shard := range sources {
		p := pull(s.firstCommits(ctx, shard))
		defer p.stop()
		sources[shard] = p
	}
	n, failed := 0, error(nil)
	mergeSorted(sources, func(a, b firstCommit) bool { return a.commitID < b.commitID }, func(fc firstCommit, err error) bool {
		if err != nil {
			failed = err
		} else {
			n++
		}
		return yield(fc.aggregateID, err)
	})
	if failed != nil {
		return 0, failed
	}
	return n, nil
}

type firstCommit struct{ commitID, aggregateID string }

// firstCommits yields one shard's entries of the aggregates index, in
// CommitID order.
func (s *Store) firstCommits(ctx context.Context, shard int) iter.Seq2[firstCommit, error] {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		IndexName:                aws.String(s.cfg.AggregatesIndex),
		KeyConditionExpression:   aws.String("#s = :s"),
		ExpressionAttributeNames: map[string]string{"#s": attrAggregateShard},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
		},
	}
	return func(yield func(firstCommit, error) bool) {
		for page, err := range s.pages(ctx, in) {
			if err != nil {
				yield(firstCommit{}, fmt.Errorf("eventstore: list aggregates: %w", err))
				return
			}
			for _, item := range page {
				var fc firstCommit
				var err error
				if fc.aggregateID, err = stringAttr(item, attrAggregateID); err == nil {
					fc.commitID, err = stringAttr(item, attrCommitID)
				}
				if err != nil {
					err = fmt.Errorf("%w: aggregates index %s entry: %v", ErrCorruptCommit, s.cfg.AggregatesIndex, err)
				}
				if !yield(fc, err) || err != nil {
					return
				}
			}
		}
	}
}
