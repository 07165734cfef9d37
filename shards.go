package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table records its scan shard count in a metadata item at version -1
// of a reserved aggregate: no commit can have a negative version, Query
// starts at 0, and the item has no commitId, so no read ever yields it.
const (
	metaAggregateID = "$eventstore"
	metaVersion     = "-1"
	attrScanShards  = "scanShards"
)

// shardCheck remembers that the table's shard count was found equal to the
// store's, or the mismatch; a failed read is tried again next time.
type shardCheck struct {
	mu   sync.Mutex
	done bool
	err  error
	// latency is the writer deadline the table records (see settle.go).
	latency time.Duration
}

// checkShards makes sure the table records the store's ScanShards, writing
// it if the table records none (first store on a table made elsewhere).
// Writers and readers with different counts would lose commits between
// them, so every operation checks once per Store.
func (s *Store) checkShards(ctx context.Context) error {
	s.shards.mu.Lock()
	defer s.shards.mu.Unlock()
	if s.shards.done {
		return s.shards.err
	}
	recorded, latency, err := s.recordShards(ctx)
	if err != nil {
		return err
	}
	s.shards.done, s.shards.latency = true, latency
	if recorded != s.cfg.ScanShards {
		s.shards.err = fmt.Errorf("%w: table %s was created with ScanShards %d, the store has %d",
			ErrShardMismatch, s.cfg.Table, recorded, s.cfg.ScanShards)
	}
	return s.shards.err
}

// recordShards returns the shard count and writer deadline the table
// records, recording the store's if there are none yet.
func (s *Store) recordShards(ctx context.Context) (int, time.Duration, error) {
	key := map[string]types.AttributeValue{
		attrAggregateID: &types.AttributeValueMemberS{Value: metaAggregateID},
		attrVersion:     &types.AttributeValueMemberN{Value: metaVersion},
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.cfg.Table), Key: key, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, 0, fmt.Errorf("eventstore: read the shard count of table %s: %w", s.cfg.Table, err)
	}
	item := out.Item
	if item == nil {
		item = map[string]types.AttributeValue{
			attrAggregateID: key[attrAggregateID],
			attrVersion:     key[attrVersion],
			attrScanShards:  &types.AttributeValueMemberN{Value: strconv.Itoa(s.cfg.ScanShards)},
			attrMaxLatency:  &types.AttributeValueMemberN{Value: strconv.FormatInt(s.cfg.MaxCommitLatency.Milliseconds(), 10)},
		}
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           aws.String(s.cfg.Table),
			Item:                                item,
			ConditionExpression:                 aws.String("attribute_not_exists(#a)"),
			ExpressionAttributeNames:            map[string]string{"#a": attrAggregateID},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var taken *types.ConditionalCheckFailedException
		if errors.As(err, &taken) { // another store recorded its count first
			item, err = taken.Item, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("eventstore: record the shard count of table %s: %w", s.cfg.Table, err)
		}
	}
	n, err := numberAttr(item, attrScanShards)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%w: metadata item of table %s: scanShards %v", ErrCorruptCommit, s.cfg.Table, err)
	}
	latency, err := s.recordedLatency(ctx, item)
	return int(n), latency, err
}
