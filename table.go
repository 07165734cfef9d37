package eventstore

import (
	"context"
	"errors"
	"fmt"
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
	_, err := s.client.CreateTable(ctx, s.tableInput())
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
		out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.cfg.Table)})
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
