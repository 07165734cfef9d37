package eventstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The settle rules live in the table: its metadata item (see table.go)
// records, beside scanShards, the writer deadline maxCommitLatency (N,
// milliseconds) of the first store that used the table. Readers need it:
// a reader's settle window must cover the WRITERS' deadline plus
// SettleAllowance, whatever the reader's own Config.MaxCommitLatency, or
// it may pass a commit's time before the commit lands and skip it for
// good. So every store checks it once, like the shard count: a writer
// whose deadline exceeds the recorded one is refused for writes, and a
// reader whose settle window is shorter than recorded + SettleAllowance
// is refused at its first Scan or Tail (WithSettle(0) excepted: the
// documented "everything visible now" opt-out). The metadata item of a
// table made by an older version records no deadline: the first writer
// adds its own; readers never write it, they assume their own and read
// the item again at each Scan, Tail or Aggregates until a writer has.
const attrMaxLatency = "maxCommitLatency"

// recordedLatency returns the writer deadline the metadata item records,
// and whether it records one. To an item written before the attribute
// existed, a writer (upgrade) adds its own (if_not_exists, so the first
// writer to add it wins); a reader writes nothing, and assumes its own
// Config.MaxCommitLatency until a writer has recorded one (the reader's
// policy of docs/table.md grants no UpdateItem, and readers need none).
func (s *Store) recordedLatency(ctx context.Context, item map[string]types.AttributeValue, upgrade bool) (time.Duration, bool, error) {
	if item[attrMaxLatency] == nil {
		if !upgrade {
			return s.cfg.MaxCommitLatency, false, nil
		}
		out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.cfg.Table),
			Key:                      map[string]types.AttributeValue{attrAggregateID: item[attrAggregateID], attrVersion: item[attrVersion]},
			UpdateExpression:         aws.String("SET #l = if_not_exists(#l, :l)"),
			ExpressionAttributeNames: map[string]string{"#l": attrMaxLatency},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":l": &types.AttributeValueMemberN{Value: strconv.FormatInt(s.cfg.MaxCommitLatency.Milliseconds(), 10)},
			},
			ReturnValues: types.ReturnValueAllNew,
		}, s.opts...)
		if err != nil {
			return 0, false, fmt.Errorf("eventstore: record the writer deadline of table %s: %w", s.cfg.Table, err)
		}
		item = out.Attributes
	}
	ms, err := numberAttr(item, attrMaxLatency)
	if err == nil && (ms < 0 || ms > math.MaxInt64/int64(time.Millisecond)) {
		err = fmt.Errorf("%d ms is out of range", ms)
	}
	if err != nil {
		return 0, false, fmt.Errorf("%w: metadata item of table %s: maxCommitLatency %v", ErrTableMismatch, s.cfg.Table, err)
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// checkWriter is checkShards, and refuses a store whose writer deadline
// exceeds the table's.
func (s *Store) checkWriter(ctx context.Context) error {
	recorded, err := s.checkMeta(ctx, true)
	if err != nil {
		return err
	}
	if s.cfg.MaxCommitLatency > recorded {
		return fmt.Errorf("%w: table %s records a writer deadline of %v; this store's Config.MaxCommitLatency %v would let its commits land after readers pass them",
			ErrSettleMismatch, s.cfg.Table, recorded, s.cfg.MaxCommitLatency)
	}
	return nil
}

// checkReader is checkShards, and refuses a settle window that does not
// cover the table's writer deadline plus SettleAllowance; 0 is the
// explicit opt-out of WithSettle(0).
func (s *Store) checkReader(ctx context.Context, settle time.Duration) error {
	recorded, err := s.checkMeta(ctx, false)
	if err != nil {
		return err
	}
	if need := recorded + SettleAllowance; settle != 0 && settle < need {
		return fmt.Errorf("%w: settle window %v is shorter than the writer deadline table %s records (%v) plus SettleAllowance (%v): a late commit could be skipped; use at least %v",
			ErrSettleMismatch, settle, s.cfg.Table, recorded, SettleAllowance, need)
	}
	return nil
}
