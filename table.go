package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"
)

// CreateTable creates the table and its scan index, on-demand or with the
// capacity of Config, and waits until both are ACTIVE. It is idempotent: on
// an existing table whose keys and scan index match, it waits for ACTIVE and
// returns nil; on one that does not match, an error wrapping
// ErrTableMismatch, or ErrShardMismatch if it was created with another
// ScanShards (CreateTable records the count in the table). With
// Config.AggregatesIndex and Config.Stream it creates the aggregates index
// and the stream too (on an existing table that lacks them it returns
// ErrTableMismatch: add them with UpdateTable or your infrastructure code);
// with Config.TTL it enables Time to Live, on a new or an existing table.
// It is safe for concurrent use.
func (s *Store) CreateTable(ctx context.Context) error {
	ctx, t := s.observe(ctx, OpCreateTable)
	return s.done(ctx, t, 0, s.createTable(ctx))
}

func (s *Store) createTable(ctx context.Context) error {
	_, err := s.client.CreateTable(ctx, s.tableInput(), s.opts...)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("eventstore: create table %s: %w", s.cfg.Table, err)
	}
	if err := s.waitActive(ctx); err != nil {
		return err
	}
	if err := s.enableTTL(ctx); err != nil {
		return err
	}
	return s.checkShards(ctx)
}

func (s *Store) tableInput() *dynamodb.CreateTableInput {
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(s.cfg.Table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrAggregateID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrVersion), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String(attrShard), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String(attrCommitID), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: keySchema(attrAggregateID, attrVersion),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(s.cfg.Index),
			KeySchema:  keySchema(attrShard, attrCommitID),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	}
	s.addFeatures(in)
	if s.cfg.ReadCapacity > 0 {
		capacity := &types.ProvisionedThroughput{
			ReadCapacityUnits:  aws.Int64(s.cfg.ReadCapacity),
			WriteCapacityUnits: aws.Int64(s.cfg.WriteCapacity),
		}
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = capacity
		for i := range in.GlobalSecondaryIndexes {
			in.GlobalSecondaryIndexes[i].ProvisionedThroughput = capacity
		}
	}
	return in
}

func keySchema(hash, rng string) []types.KeySchemaElement {
	return []types.KeySchemaElement{
		{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
	}
}

// waitActive polls DescribeTable until the table and the scan index are
// ACTIVE, checking on the way that they have the store's keys.
func (s *Store) waitActive(ctx context.Context) error {
	policy := backoff.NewExponentialBackOff()
	policy.InitialInterval = 50 * time.Millisecond
	policy.MaxInterval = 2 * time.Second
	policy.MaxElapsedTime = 0 // bounded by ctx
	return backoff.Retry(func() error {
		out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.cfg.Table)}, s.opts...)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("eventstore: describe table %s: %w", s.cfg.Table, err))
		}
		active, err := s.checkTable(out.Table)
		if err == nil {
			active, err = s.checkFeatures(out.Table, active)
		}
		if err != nil {
			return backoff.Permanent(err)
		}
		if !active {
			return errNotActive
		}
		return nil
	}, backoff.WithContext(policy, ctx))
}

var errNotActive = errors.New("eventstore: table not active yet")

// checkTable reports whether the table and the scan index are ACTIVE, and an
// error if their keys are not the store's.
func (s *Store) checkTable(t *types.TableDescription) (bool, error) {
	if t == nil || !sameKeys(t.KeySchema, attrAggregateID, attrVersion) {
		return false, fmt.Errorf("%w: table %s must have key (%s, %s)", ErrTableMismatch, s.cfg.Table, attrAggregateID, attrVersion)
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != s.cfg.Index {
			continue
		}
		if !sameKeys(ix.KeySchema, attrShard, attrCommitID) || ix.Projection == nil || ix.Projection.ProjectionType != types.ProjectionTypeAll {
			return false, fmt.Errorf("%w: index %s must have key (%s, %s) and project all attributes",
				ErrTableMismatch, s.cfg.Index, attrShard, attrCommitID)
		}
		return t.TableStatus == types.TableStatusActive && ix.IndexStatus == types.IndexStatusActive, nil
	}
	return false, fmt.Errorf("%w: table %s has no index %s", ErrTableMismatch, s.cfg.Table, s.cfg.Index)
}

func sameKeys(ks []types.KeySchemaElement, hash, rng string) bool {
	want := keySchema(hash, rng)
	if len(ks) != len(want) {
		return false
	}
	for i := range ks {
		if aws.ToString(ks[i].AttributeName) != aws.ToString(want[i].AttributeName) || ks[i].KeyType != want[i].KeyType {
			return false
		}
	}
	return true
}

// addFeatures adds the aggregates index and the stream to a table
// definition.
func (s *Store) addFeatures(in *dynamodb.CreateTableInput) {
	if s.cfg.AggregatesIndex != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String(attrAggregateShard), AttributeType: types.ScalarAttributeTypeN})
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(s.cfg.AggregatesIndex),
			KeySchema:  keySchema(attrAggregateShard, attrCommitID),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		})
	}
	if s.cfg.Stream {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
	}
}

// checkFeatures checks that an existing table has the aggregates index and
// the stream the store is configured with, and reports whether the table
// is active, given active for the table and scan index.
func (s *Store) checkFeatures(t *types.TableDescription, active bool) (bool, error) {
	if s.cfg.Stream && (t.StreamSpecification == nil || !aws.ToBool(t.StreamSpecification.StreamEnabled) ||
		(t.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage && t.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages)) {
		return false, fmt.Errorf("%w: table %s has no stream of new images (Config.Stream)", ErrTableMismatch, s.cfg.Table)
	}
	if s.cfg.AggregatesIndex == "" {
		return active, nil
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != s.cfg.AggregatesIndex {
			continue
		}
		if !sameKeys(ix.KeySchema, attrAggregateShard, attrCommitID) {
			return false, fmt.Errorf("%w: index %s must have key (%s, %s)", ErrTableMismatch, s.cfg.AggregatesIndex, attrAggregateShard, attrCommitID)
		}
		return active && ix.IndexStatus == types.IndexStatusActive, nil
	}
	return false, fmt.Errorf("%w: table %s has no index %s (Config.AggregatesIndex)", ErrTableMismatch, s.cfg.Table, s.cfg.AggregatesIndex)
}

// enableTTL turns on Time to Live on the expiresAt attribute when the store
// has a TTL, unless it is on already. A table whose TTL is on another
// attribute is ErrTableMismatch: its commits would never expire.
func (s *Store) enableTTL(ctx context.Context) error {
	if s.cfg.TTL <= 0 {
		return nil
	}
	on, err := s.ttlEnabled(ctx)
	if err != nil || on {
		return err
	}
	_, err = s.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(s.cfg.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt), Enabled: aws.Bool(true),
		},
	}, s.opts...)
	if err == nil {
		return nil
	}
	// Another store may have enabled it meanwhile ("already enabled").
	if on, again := s.ttlEnabled(ctx); again == nil && on {
		return nil
	}
	return fmt.Errorf("eventstore: enable time to live on table %s: %w", s.cfg.Table, err)
}

// ttlEnabled reports whether TTL is on (or turning on) for expiresAt.
func (s *Store) ttlEnabled(ctx context.Context) (bool, error) {
	out, err := s.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.cfg.Table)}, s.opts...)
	if err != nil {
		return false, fmt.Errorf("eventstore: describe time to live of table %s: %w", s.cfg.Table, err)
	}
	d := out.TimeToLiveDescription
	if d == nil {
		return false, nil
	}
	switch d.TimeToLiveStatus {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if name := aws.ToString(d.AttributeName); name != attrExpiresAt {
			return false, fmt.Errorf("%w: table %s has time to live on %q, the store writes %q",
				ErrTableMismatch, s.cfg.Table, name, attrExpiresAt)
		}
		return true, nil
	}
	return false, nil
}

// shardCheck remembers what the table's metadata item told the store:
// the shard count, found equal to the store's, or the mismatch, and the
// writer deadline it records. A failed read is tried again next time, and
// so is an item that records no deadline yet (see recordedLatency).
type shardCheck struct {
	mu   sync.Mutex
	done bool
	err  error
	// latency is the writer deadline the table records (see recordedLatency).
	latency time.Duration
}

// checkShards makes sure the table records the store's ScanShards, writing
// it if the table records none (first store on a table made elsewhere).
// Writers and readers with different counts would lose commits between
// them, so every operation checks once per Store. Readers, CreateTable
// and Import call it; it never adds a writer deadline to an item that
// lacks one (see checkMeta).
func (s *Store) checkShards(ctx context.Context) error {
	_, err := s.checkMeta(ctx, false)
	return err
}

// checkMeta is checkShards, returning the writer deadline the table
// records. Only a writer (upgrade) adds its own deadline to a metadata
// item that records none (made by an older version); anyone else assumes
// its own deadline, and reads the item again next time, until a writer
// has recorded one.
func (s *Store) checkMeta(ctx context.Context, upgrade bool) (time.Duration, error) {
	s.shards.mu.Lock()
	defer s.shards.mu.Unlock()
	if s.shards.done {
		return s.shards.latency, s.shards.err
	}
	start := s.cfg.now()
	item, err := s.metaItem(ctx)
	if err != nil {
		return 0, err
	}
	sched, err := scheduleOf(item)
	if err != nil {
		return 0, fmt.Errorf("%w: metadata item of table %s: %v", ErrTableMismatch, s.cfg.Table, err)
	}
	if err := s.checkCount(sched); err != nil {
		s.shards.done, s.shards.err = true, err
		return 0, err
	}
	s.sched.learn(sched, start, s.cfg.reshardLead)
	latency, recorded, err := s.recordedLatency(ctx, item, upgrade)
	if err != nil {
		return 0, err
	}
	s.shards.done, s.shards.latency = recorded, latency
	return latency, nil
}

// metaItem returns the table's metadata item, writing the store's shard
// count and writer deadline if there is none yet.
func (s *Store) metaItem(ctx context.Context) (map[string]types.AttributeValue, error) {
	key := map[string]types.AttributeValue{
		attrAggregateID: &types.AttributeValueMemberS{Value: metaAggregateID},
		attrVersion:     &types.AttributeValueMemberN{Value: metaVersion},
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.cfg.Table), Key: key, ConsistentRead: aws.Bool(true),
	}, s.opts...)
	if t, ok := tableProblem(err); ok {
		return nil, t // it names the table
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: read the shard count of table %s: %w", s.cfg.Table, err)
	}
	if out.Item != nil {
		return out.Item, nil
	}
	item := map[string]types.AttributeValue{
		attrAggregateID: key[attrAggregateID],
		attrVersion:     key[attrVersion],
		attrScanShards:  &types.AttributeValueMemberN{Value: strconv.Itoa(s.cfg.ScanShards)},
		attrMaxLatency:  &types.AttributeValueMemberN{Value: strconv.FormatInt(s.cfg.MaxCommitLatency.Milliseconds(), 10)},
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.cfg.Table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#a)"),
		ExpressionAttributeNames:            map[string]string{"#a": attrAggregateID},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, s.opts...)
	var taken *types.ConditionalCheckFailedException
	if errors.As(err, &taken) { // another store recorded its count first
		item, err = taken.Item, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: record the shard count of table %s: %w", s.cfg.Table, err)
	}
	return item, nil
}

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
