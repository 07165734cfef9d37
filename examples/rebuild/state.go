package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// projection counts events by type per aggregate.
type projection struct {
	Checkpoint string                    `json:"checkpoint"` // the last commit applied
	Commits    int64                     `json:"commits"`
	Counts     map[string]map[string]int `json:"counts"` // aggregate → event type → count
}

func (p *projection) apply(c eventstore.Commit) {
	if p.Counts == nil {
		p.Counts = map[string]map[string]int{}
	}
	byType := p.Counts[c.AggregateID]
	if byType == nil {
		byType = map[string]int{}
		p.Counts[c.AggregateID] = byType
	}
	for _, e := range c.Events {
		byType[e.Type]++
	}
	p.Commits++
	p.Checkpoint = c.CommitID
}

// print writes the counts, one line per aggregate and event type, sorted.
func (p *projection) print(w io.Writer) {
	fmt.Fprintf(w, "%d commits, checkpoint %s\n", p.Commits, p.Checkpoint)
	for _, agg := range slices.Sorted(maps.Keys(p.Counts)) {
		for _, typ := range slices.Sorted(maps.Keys(p.Counts[agg])) {
			fmt.Fprintf(w, "%s\t%s\t%d\n", agg, typ, p.Counts[agg][typ])
		}
	}
}

// stateStore keeps the projection and its checkpoint in one item, so they
// are saved together or not at all.
type stateStore struct {
	client *dynamodb.Client
	table  string
}

const stateID = "counts-by-type"

func (s *stateStore) create(ctx context.Context) error {
	_, err := s.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(s.table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create state table: %w", err)
	}
	return dynamodb.NewTableExistsWaiter(s.client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, time.Minute)
}

func (s *stateStore) load(ctx context.Context) (*projection, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: stateID}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	p := &projection{}
	if v, ok := out.Item["state"].(*types.AttributeValueMemberS); ok {
		if err := json.Unmarshal([]byte(v.Value), p); err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
	}
	return p, nil
}

// save writes p if the stored checkpoint is still prev: a second rebuilder
// on the same state fails instead of overwriting.
func (s *stateStore) save(ctx context.Context, p *projection, prev string) error {
	state, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			"id":         &types.AttributeValueMemberS{Value: stateID},
			"checkpoint": &types.AttributeValueMemberS{Value: p.Checkpoint},
			"state":      &types.AttributeValueMemberS{Value: string(state)},
		},
		ConditionExpression:       aws.String("attribute_not_exists(id) OR checkpoint = :prev"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": &types.AttributeValueMemberS{Value: prev}},
	})
	if err != nil {
		return fmt.Errorf("save state at %s: %w", p.Checkpoint, err)
	}
	return nil
}
