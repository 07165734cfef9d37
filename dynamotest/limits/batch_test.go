package limits_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// An index item is hidden from index queries until its lag has passed;
// the table shows it at once. Count and ScannedCount follow.
func TestLagHidesIndexItems(t *testing.T) {
	table := newTable(t)
	clk := newClock()
	_, client := newSim(t, limits.Config{Now: clk.Now, Lag: limits.Lag{P50: time.Second, P99: time.Second, TailFraction: -1}})
	put(t, client, table, commit("a", 0, 4, 100))
	query := func() *dynamodb.QueryOutput {
		out, err := client.Query(context.Background(), &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String(index),
			KeyConditionExpression:    aws.String("#s = :s"),
			ExpressionAttributeNames:  map[string]string{"#s": "shard"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "4"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := query(); len(out.Items) != 0 || out.Count != 0 || out.ScannedCount != 0 {
		t.Errorf("index query during the lag: %d items, count %d, scanned %d; want none", len(out.Items), out.Count, out.ScannedCount)
	}
	if item, err := dynamoGet(client, table, "a"); item == nil || err != nil {
		t.Errorf("table read during the lag: %v, %v; want the item", item, err)
	}
	clk.Add(999 * time.Millisecond)
	if out := query(); len(out.Items) != 0 {
		t.Errorf("index query 999 ms after: %d items, want none", len(out.Items))
	}
	clk.Add(time.Millisecond)
	if out := query(); len(out.Items) != 1 || out.Count != 1 {
		t.Errorf("index query 1 s after: %d items, count %d; want 1", len(out.Items), out.Count)
	}
}

// BatchWriteItem returns the throttled writes in UnprocessedItems and
// stores the others; when all are throttled it fails.
func TestBatchWriteUnprocessed(t *testing.T) {
	table := newTable(t)
	clk := newClock()
	sim, client := newSim(t, limits.Config{Scale: 0.002, Now: clk.Now}) // 2 WCU per key
	write := func(aggs ...string) (*dynamodb.BatchWriteItemOutput, error) {
		var reqs []types.WriteRequest
		for i, a := range aggs {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: commit(a, i, -1, 900)}})
		}
		return client.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
	}
	out, err := write("a", "a", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.UnprocessedItems[table]); n != 1 {
		t.Errorf("%d unprocessed, want 1 (the third write to a)", n)
	}
	if _, err := write("a", "a"); !errors.As(err, new(*types.ProvisionedThroughputExceededException)) {
		t.Errorf("batch of throttled writes only: %v, want ProvisionedThroughputExceededException", err)
	}
	if st := sim.Stats().Total; st.WriteUnits != 3 || st.WriteThrottles != 3 {
		t.Errorf("stats %+v, want 3 WCU, 3 throttles", st)
	}
}

// A transaction pays double, and a throttled one is cancelled with a
// ThrottlingError reason, nothing written.
func TestTransactWriteDouble(t *testing.T) {
	table := newTable(t)
	clk := newClock()
	sim, client := newSim(t, limits.Config{Scale: 0.005, Now: clk.Now, Lag: limits.Lag{Disabled: true}}) // 5 WCU per key
	tx := func(agg string, shard int) error {
		_, err := client.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String(table), Item: commit(agg, 0, shard, 1500)}},
			{Put: &types.Put{TableName: aws.String(table), Item: commit(agg+"-other", 0, -1, 100)}},
		}})
		return err
	}
	if err := tx("a", 1); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	if got := st.Keys[tableKey(table, "a")].WriteUnits; got != 4 {
		t.Errorf("transactional put of 1,500 bytes: %v WCU, want 4", got)
	}
	if got := st.Keys[indexKey(table, "1")].WriteUnits; got != 4 {
		t.Errorf("its index write: %v WCU, want 4", got)
	}
	err := tx("b", 1) // the index partition 1 has 1 WCU left
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || len(canceled.CancellationReasons) != 2 ||
		aws.ToString(canceled.CancellationReasons[0].Code) != "ThrottlingError" {
		t.Fatalf("throttled transaction: %v, want TransactionCanceledException with ThrottlingError first", err)
	}
	if item, _ := dynamoGet(client, table, "b-other"); item != nil {
		t.Error("a throttled transaction wrote")
	}
}
