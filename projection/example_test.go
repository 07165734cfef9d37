package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/projection"
)

// balances is a read model in a second DynamoDB table: per account, its
// balance and the version of the last commit applied. The conditional
// write on that version makes the handler's effect exactly-once although
// the runner hands a commit at least once: a repeat finds its version
// applied and does nothing.
type balances struct {
	client *dynamodb.Client
	table  string
}

func (b balances) Handle(ctx context.Context, c eventstore.Commit) error {
	delta := 0
	for _, e := range c.Events {
		var d struct{ Amount int }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err // retried, then the account is parked
		}
		delta += d.Amount
	}
	cond := "version = :prev" // applied the previous commit, not this one
	values := map[string]types.AttributeValue{
		":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)},
		":d": &types.AttributeValueMemberN{Value: strconv.Itoa(delta)},
	}
	if c.Version == 0 {
		cond = "attribute_not_exists(version)"
	} else {
		values[":prev"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version-1, 10)}
	}
	_, err := b.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(b.table),
		Key:                       map[string]types.AttributeValue{"account": &types.AttributeValueMemberS{Value: c.AggregateID}},
		UpdateExpression:          aws.String("SET version = :v ADD balance :d"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	})
	var applied *types.ConditionalCheckFailedException
	if errors.As(err, &applied) {
		return nil // a repeat: this version (or a later one) is applied already
	}
	return err
}

func Example() {
	ctx := context.Background()
	endpoint, err := dynamotest.Start()
	if err != nil {
		log.Fatal(err)
	}
	client := dynamotest.NewClient(endpoint)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	table := "example-projection-" + suffix
	store, err := eventstore.New(client, eventstore.Config{Table: table,
		MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	model := balances{client: client, table: "example-balances-" + suffix}
	if _, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(model.table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("account"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("account"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		log.Fatal(err)
	}
	for v, amount := range []int{100, -30, 5} {
		_, err := store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Version: int64(v),
			Events: []eventstore.Event{{Type: "moved", Data: json.RawMessage(fmt.Sprintf(`{"amount":%d}`, amount))}}})
		if err != nil {
			log.Fatal(err)
		}
	}

	// Run as many of these processes as you like: they share the partitions.
	caughtUp := make(chan struct{}, 8)
	runner, err := projection.NewRunner(projection.Config{
		Store: store, DynamoDB: client, Table: table, Name: "balances", Handler: model, Partitions: 2,
		OnProgress: func(p projection.Progress) {
			if p.CaughtUp {
				caughtUp <- struct{}{}
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- runner.Run(runCtx) }()
	<-caughtUp
	<-caughtUp // both partitions rebuilt
	stop()
	fmt.Println(<-done)

	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(model.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"account": &types.AttributeValueMemberS{Value: "account#1"}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("balance", out.Item["balance"].(*types.AttributeValueMemberN).Value,
		"at version", out.Item["version"].(*types.AttributeValueMemberN).Value)
	// Output:
	// context canceled
	// balance 75 at version 2
}
