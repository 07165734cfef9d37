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
// An error (ErrNoAggregatesIndex without the index, ErrShardMismatch, a
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
		return fail(ErrNoAggregatesIndex)
	}
	if err := s.checkShards(ctx); err != nil {
		return fail(err)
	}
	type head struct {
		commitID, aggregateID string
		next                  func() (firstCommit, error, bool)
		stop                  func()
	}
	heads := make([]*head, 0, s.cfg.ScanShards)
	defer func() {
		for _, h := range heads {
			h.stop()
		}
	}()
	advance := func(h *head) (bool, error) {
		fc, err, ok := h.next()
		h.commitID, h.aggregateID = fc.commitID, fc.aggregateID
		return ok && err == nil, err
	}
	for shard := range s.cfg.ScanShards {
		next, stop := iter.Pull2(s.firstCommits(ctx, shard))
		heads = append(heads, &head{next: next, stop: stop})
	}
	live := make([]*head, 0, len(heads))
	for _, h := range heads {
		ok, err := advance(h)
		if err != nil {
			return fail(err)
		}
		if ok {
			live = append(live, h)
		}
	}
	n := 0
	for len(live) > 0 {
		pick := 0
		for i, h := range live {
			if h.commitID < live[pick].commitID {
				pick = i
			}
		}
		h := live[pick]
		if !yield(h.aggregateID, nil) {
			return n, nil
		}
		n++
		ok, err := advance(h)
		if err != nil {
			return fail(err)
		}
		if !ok {
			live = append(live[:pick], live[pick+1:]...)
		}
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
