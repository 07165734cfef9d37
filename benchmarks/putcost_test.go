package benchmarks

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// putVariant changes the bare PutItem of a 1-event commit.
type putVariant struct {
	name  string
	short bool // short attribute names, on a table keyed and indexed by them
	edit  func(in *dynamodb.PutItemInput, version int64)
}

// fenceCondition is the store's condition: the key is free, or fenced by
// a commit other than this one.
func fenceCondition(in *dynamodb.PutItemInput) {
	in.ConditionExpression = aws.String("attribute_not_exists(#a) OR (attribute_not_exists(#c) AND NOT contains(#r, :cid))")
	in.ExpressionAttributeNames = map[string]string{"#a": "aggregateId", "#c": "commitId", "#r": "refused"}
	in.ExpressionAttributeValues = map[string]types.AttributeValue{":cid": in.Item["commitId"]}
}

var putVariants = []putVariant{
	{name: "plain", edit: func(*dynamodb.PutItemInput, int64) {}},
	{name: "no-condition", edit: func(in *dynamodb.PutItemInput, _ int64) { in.ConditionExpression = nil }},
	{name: "plain-with-names", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.ConditionExpression = aws.String("attribute_not_exists(#a)")
		in.ExpressionAttributeNames = map[string]string{"#a": "aggregateId"}
	}},
	{name: "fence", edit: func(in *dynamodb.PutItemInput, _ int64) { fenceCondition(in) }},
	// Since issue 16 item 2 the store sends the plain condition with ALL_OLD
	// first, and the fence-aware one only when the key holds a fence.
	{name: "plain+ALL_OLD(store)", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}},
	{name: "fence+ALL_OLD(store-before-12)", edit: func(in *dynamodb.PutItemInput, _ int64) {
		fenceCondition(in)
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}},
	{name: "plain+RCC_TOTAL", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	}},
	{name: "plain+RCC_INDEXES", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.ReturnConsumedCapacity = types.ReturnConsumedCapacityIndexes
	}},
	{name: "plain+aggregateShard", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.Item["aggregateShard"] = in.Item["shard"]
	}},
	{name: "plain+2-extra-attributes", edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.Item["x1"] = &types.AttributeValueMemberN{Value: "1"}
		in.Item["x2"] = &types.AttributeValueMemberS{Value: "01J0000000000000000000000"}
	}},
	{name: "plain+short-names", short: true, edit: func(in *dynamodb.PutItemInput, _ int64) {
		in.ConditionExpression = aws.String("attribute_not_exists(a)")
		short := map[string]string{"aggregateId": "a", "version": "v", "commitId": "c", "committedAt": "t", "shard": "s", "events": "e"}
		item := make(map[string]types.AttributeValue, len(in.Item))
		for k, v := range in.Item {
			item[short[k]] = v
		}
		in.Item = item
	}},
}

// createShortTable creates a table like the store's, with one-letter
// attribute names: key (a, v), scan index (s, c).
func createShortTable(b *testing.B, client *dynamodb.Client) string {
	table := dynamotest.TableName(b, client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	def := func(name string, t types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: t}
	}
	key := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange}}
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{def("a", types.ScalarAttributeTypeS), def("v", types.ScalarAttributeTypeN),
			def("s", types.ScalarAttributeTypeN), def("c", types.ScalarAttributeTypeS)},
		KeySchema: key("a", "v"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("byC"), KeySchema: key("s", "c"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return table
}

// BenchmarkPutCost measures what DynamoDB Local spends (server-µs/op) on
// one PutItem of a 1-event commit item, as the bare loop sends it
// ("plain": condition attribute_not_exists(aggregateId), the item of a
// version > 0, no options) and with one change at a time: the store's
// fence-aware condition, ReturnValuesOnConditionCheckFailure ALL_OLD,
// ReturnConsumedCapacity, more attributes, shorter attribute names. The
// Append row is the store for reference. Every put succeeds (a fresh key).
// Run it with -count 3 or more and compare medians: one tick of the
// server's CPU clock is 10 ms.
func BenchmarkPutCost(b *testing.B) {
	warmUp(b)
	ctx := context.Background()
	payloads := Payloads(1000)
	_, client, table := newFloorTable(b)
	shortTable := createShortTable(b, client)
	n := 0
	put := func(v putVariant) error {
		n++
		id, version := fmt.Sprintf("account#%d", n/8), int64(1+n%8)
		in := &dynamodb.PutItemInput{
			TableName:           aws.String(table),
			Item:                bareItem(id, version, Events(payloads, n, 1), eventstore.DefaultScanShards),
			ConditionExpression: aws.String("attribute_not_exists(aggregateId)"),
		}
		delete(in.Item, "aggregateShard")
		delete(in.Item, "prev") // the baseline of the figures in FLOOR.md
		v.edit(in, version)
		if v.short {
			in.TableName = aws.String(shortTable)
		}
		_, err := client.PutItem(ctx, in)
		return err
	}
	// DynamoDB Local's JIT keeps speeding up for thousands of requests:
	// warm every variant's path first, untimed.
	for i := range 3000 {
		if err := put(putVariants[i%len(putVariants)]); err != nil {
			b.Fatal(err)
		}
	}
	for _, v := range putVariants {
		b.Run(v.name, func(b *testing.B) {
			start := TakeCost()
			for b.Loop() {
				if err := put(v); err != nil {
					b.Fatal(err)
				}
			}
			start.Since().Report(b, b.N)
		})
	}
	// DynamoDB Local keeps getting faster (JIT) through a run, which
	// biases the rows above by their order. This row takes turns: rounds
	// of 100 puts of each variant, over and over, and reports each
	// variant's server CPU per put as a metric of its own.
	b.Run("interleaved", func(b *testing.B) {
		server := make([]float64, len(putVariants))
		puts := 0
		for b.Loop() {
			for i, v := range putVariants {
				start := serverCPU()
				for range 100 {
					if err := put(v); err != nil {
						b.Fatal(err)
					}
				}
				server[i] += serverCPU() - start
			}
			puts += 100
		}
		for i, v := range putVariants {
			b.ReportMetric(server[i]/float64(puts)*1e6, v.name+"-server-µs/put")
		}
	})
	store, _, _ := newFloorTable(b)
	b.Run("store-Append", func(b *testing.B) {
		start := TakeCost()
		n = (n/8+1)*8 - 1 // fresh aggregates from version 0: the store refuses gaps
		for b.Loop() {
			n++
			id, version := fmt.Sprintf("account#%d", n/8), int64(n%8)
			if _, err := store.Append(ctx, eventstore.Commit{AggregateID: id, Version: version, Events: Events(payloads, n, 1)}); err != nil {
				b.Fatal(err)
			}
		}
		start.Since().Report(b, b.N)
	})
}
