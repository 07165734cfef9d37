package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// Reshard raises the table's shard count to n from a CommitID ReshardLead
// in the future on: commits with a CommitID from there on are spread over
// n shards of the scan index, older ones stay where they are, and every
// reader splits its ranges at the boundary. n must be a multiple of the
// count in force at the end of the schedule, and larger, so that each new
// shard has one parent. It returns the new schedule.
//
// It writes the schedule into the table's metadata item with a
// conditional update on the schedule it read: of two Reshards at once,
// one wins and the other gets ErrReshardConflict, and the schedule stays
// the winner's. The first Reshard also turns the item's scanShards into a
// string, so that a store of a version without shard schedules refuses
// the table (ErrTableMismatch) before it writes. Every process using the
// table must run a version with shard schedules before the first Reshard;
// see docs/resharding.md.
//
// Other errors: ErrShardMismatch (the store's ScanShards is none of the
// schedule's counts), ErrTableMismatch (an unreadable metadata item), a
// plain error for a bad n, DynamoDB's errors. It is safe for concurrent
// use.
func (s *Store) Reshard(ctx context.Context, n int) (ShardSchedule, error) {
	if err := s.checkShards(ctx); err != nil {
		return nil, err
	}
	item, err := s.metaItem(ctx)
	if err != nil {
		return nil, err
	}
	sched, err := scheduleOf(item)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata item of table %s: %v", ErrTableMismatch, s.cfg.Table, err)
	}
	last := sched.last()
	if n <= last.Shards || n%last.Shards != 0 || n > maxScheduleShards {
		return nil, fmt.Errorf("%w: %d shards: the count must be a multiple of %d (the newest count of table %s), larger, and at most %d",
			errInvalidShardCount, n, last.Shards, s.cfg.Table, maxScheduleShards)
	}
	var from ulid.ULID
	if err := from.SetTime(ulid.Timestamp(s.cfg.now().Add(s.cfg.reshardLead))); err != nil {
		return nil, fmt.Errorf("eventstore: reshard: %w: %v", errClockOutOfRange, err)
	}
	if from.String() <= last.From {
		return nil, fmt.Errorf("%w: the newest boundary of table %s, %s, is later than now + ReshardLead", errInvalidShardCount, s.cfg.Table, last.From)
	}
	next := append(sched[:len(sched):len(sched)], ShardEpoch{From: from.String(), Shards: n})
	if err := s.writeSchedule(ctx, item, sched, next); err != nil {
		return nil, err
	}
	return next, nil
}

// writeSchedule replaces the schedule old, read from item, with next,
// unless another reshard changed it meanwhile. The request must land
// within SettleAllowance/2 of the boundary's computation: the readers'
// arithmetic allows that much (see doc.go, "Shard schedule").
func (s *Store) writeSchedule(ctx context.Context, item map[string]types.AttributeValue, old, next ShardSchedule) error {
	names := map[string]string{"#s": attrSchedule, "#n": attrScanShards}
	values := map[string]types.AttributeValue{
		":s": scheduleValue(next),
		":m": &types.AttributeValueMemberS{Value: reshardedMarker},
	}
	cond := "size(#s) = :k"
	values[":k"] = &types.AttributeValueMemberN{Value: strconv.Itoa(len(old))}
	if _, ok := item[attrSchedule]; !ok { // the first reshard: the item records a number
		cond = "attribute_not_exists(#s) AND #n = :n"
		delete(values, ":k")
		values[":n"] = &types.AttributeValueMemberN{Value: strconv.Itoa(old[0].Shards)}
	}
	ctx, cancel := context.WithTimeout(ctx, SettleAllowance/2)
	defer cancel()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.cfg.Table),
		Key:                       map[string]types.AttributeValue{attrAggregateID: item[attrAggregateID], attrVersion: item[attrVersion]},
		UpdateExpression:          aws.String("SET #s = :s, #n = :m"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}, s.opts...)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("%w: table %s: the schedule is no longer %v", ErrReshardConflict, s.cfg.Table, old)
	}
	if err != nil {
		return fmt.Errorf("eventstore: reshard table %s: %w", s.cfg.Table, err)
	}
	s.sched.mu.Lock()
	s.sched.sched, s.sched.until = nil, s.sched.until.AddDate(-1, 0, 0) // read it again before relying on it
	s.sched.mu.Unlock()
	return nil
}

// ShardSchedule returns the table's shard schedule, read consistently
// from its metadata item (which it writes, like every operation, if the
// table has none yet). Unlike the other methods it does not check the
// store's ScanShards against it, so that tools can learn the counts of
// any table. Errors: ErrTableMismatch for an unreadable metadata item,
// DynamoDB's errors. It is safe for concurrent use.
func (s *Store) ShardSchedule(ctx context.Context) (ShardSchedule, error) {
	item, err := s.metaItem(ctx)
	if err != nil {
		return nil, err
	}
	sched, err := scheduleOf(item)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata item of table %s: %v", ErrTableMismatch, s.cfg.Table, err)
	}
	return sched, nil
}
