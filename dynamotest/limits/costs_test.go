package limits_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

func tableKey(table, agg string) limits.Key { return limits.Key{Table: table, Value: agg} }
func indexKey(table, shard string) limits.Key {
	return limits.Key{Table: table, Index: index, Value: shard}
}

// A put costs 1 WCU per started KB of the item, on the table and on the
// index it lands in.
func TestWriteUnitsFromItemSize(t *testing.T) {
	table := newTable(t)
	sim, client := newSim(t, limits.Config{Lag: limits.Lag{Disabled: true}})
	for _, tc := range []struct {
		agg        string
		size       int
		shard      int
		wantUnits  float64
		wantInIndx float64
	}{
		{"small", 100, -1, 1, 0},
		{"one-kb", 1024, -1, 1, 0},
		{"just-over", 1025, -1, 2, 0},
		{"two-kb", 2048, 7, 2, 2},
		{"ten-kb", 10 * 1024, 8, 10, 10},
	} {
		put(t, client, table, commit(tc.agg, 0, tc.shard, tc.size))
		st := sim.Stats()
		if got := st.Keys[tableKey(table, tc.agg)].WriteUnits; got != tc.wantUnits {
			t.Errorf("%s (%d bytes): table charged %v WCU, want %v", tc.agg, tc.size, got, tc.wantUnits)
		}
		if tc.shard >= 0 {
			if got := st.Keys[indexKey(table, itoa(tc.shard))].WriteUnits; got != tc.wantInIndx {
				t.Errorf("%s: index charged %v WCU, want %v", tc.agg, got, tc.wantInIndx)
			}
		}
	}
	if got := sim.Stats().Resources[limits.Resource{Table: table, Index: index}].WriteUnits; got != 12 {
		t.Errorf("index total %v WCU, want 12", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A write refused by the index's bucket fails the whole write, names the
// index, and the base item is not stored.
func TestThrottledIndexWriteIsNotStored(t *testing.T) {
	table := newTable(t)
	clk := newClock()
	// 10 WCU/s per key, 1 s burst, and a clock that stands still.
	sim, client := newSim(t, limits.Config{Scale: 0.01, Now: clk.Now})
	for i := range 10 { // ten aggregates, one index partition (shard 3)
		put(t, client, table, commit("agg-"+itoa(i), 0, 3, 500))
	}
	_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: commit("agg-x", 0, 3, 500)})
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		t.Fatalf("11th put to index partition 3: %v, want ProvisionedThroughputExceededException", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(pte.ErrorMessage(), "index "+index) || len(pte.ThrottlingReasons) != 1 ||
		aws.ToString(pte.ThrottlingReasons[0].Reason) != "IndexWriteKeyRangeThroughputExceeded" ||
		!strings.HasSuffix(aws.ToString(pte.ThrottlingReasons[0].Resource), "/index/"+index) {
		t.Errorf("message %q, reasons %+v: want the index named", pte.ErrorMessage(), pte.ThrottlingReasons)
	}
	out, err := dynamoGet(client, table, "agg-x")
	if err != nil || out != nil {
		t.Errorf("throttled item: stored %v (%v), want nothing", out, err)
	}
	if st := sim.Stats().Keys[indexKey(table, "3")]; st.WriteThrottles != 1 || st.WriteUnits != 10 {
		t.Errorf("index partition 3: %+v, want 10 WCU and 1 throttle", st)
	}
	clk.Add(100 * time.Millisecond) // 1 WCU earned
	put(t, client, table, commit("agg-x", 0, 3, 500))
}

func dynamoGet(client *dynamodb.Client, table, agg string) (map[string]types.AttributeValue, error) {
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: agg},
			"version":     &types.AttributeValueMemberN{Value: "0"},
		}})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// A write whose condition fails still pays its table units; the index,
// not written, pays nothing.
func TestFailedConditionIsCharged(t *testing.T) {
	table := newTable(t)
	sim, client := newSim(t, limits.Config{Lag: limits.Lag{Disabled: true}})
	put(t, client, table, commit("a", 0, 1, 3000))
	sim.Reset()
	_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(table), Item: commit("a", 0, 1, 1500),
		ConditionExpression: aws.String("attribute_not_exists(aggregateId)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("put over an item: %v, want ConditionalCheckFailedException", err)
	}
	st := sim.Stats()
	// The larger of the stored (3,000 bytes) and the new item: 3 WCU.
	if got := st.Keys[tableKey(table, "a")].WriteUnits; got != 3 {
		t.Errorf("failed put: table charged %v WCU, want 3", got)
	}
	if got := st.Resources[limits.Resource{Table: table, Index: index}].WriteUnits; got != 0 {
		t.Errorf("failed put: index charged %v WCU, want 0", got)
	}
}

// An update that moves an item to another index partition costs the index a
// delete in the old one and a put in the new; its new image is read after.
func TestUpdateMovingIndexKey(t *testing.T) {
	table := newTable(t)
	sim, client := newSim(t, limits.Config{Lag: limits.Lag{Disabled: true}})
	put(t, client, table, commit("a", 0, 1, 1500))
	sim.Reset()
	_, err := client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "a"},
			"version":     &types.AttributeValueMemberN{Value: "0"},
		},
		UpdateExpression:          aws.String("SET #s = :s, events = :e"),
		ExpressionAttributeNames:  map[string]string{"#s": "shard"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "2"}, ":e": &types.AttributeValueMemberS{Value: strings.Repeat("y", 2500)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	for k, want := range map[limits.Key]float64{
		tableKey(table, "a"): 3, // larger of 1,500 and ~2,540 bytes
		indexKey(table, "1"): 2, // delete of the 1,500-byte image
		indexKey(table, "2"): 3, // put of the new one
	} {
		if got := st.Keys[k].WriteUnits; got != want {
			t.Errorf("%+v: %v WCU, want %v", k, got, want)
		}
	}
}

// Reads pay per 4 KB of what they return: consistent 1, eventual 0.5, index
// queries eventual; a Query sums its items before rounding.
func TestReadUnitsFromSizeReturned(t *testing.T) {
	table := newTable(t)
	sim, client := newSim(t, limits.Config{Lag: limits.Lag{Disabled: true}})
	for v := range 3 {
		put(t, client, table, commit("a", v, 5, 3000))
	}
	ctx := context.Background()
	sim.Reset()
	out, err := client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("#a = :a AND #v >= :v"),
		ExpressionAttributeNames:  map[string]string{"#a": "aggregateId", "#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: "a"}, ":v": &types.AttributeValueMemberN{Value: "0"}},
	})
	if err != nil || len(out.Items) != 3 {
		t.Fatalf("query: %v, %v", out, err)
	}
	if got := sim.Stats().Keys[tableKey(table, "a")].ReadUnits; got != 3 { // 9,000 bytes
		t.Errorf("consistent query of 3 x 3,000 bytes: %v RCU, want 3", got)
	}
	sim.Reset()
	out, err = client.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), IndexName: aws.String(index),
		KeyConditionExpression:    aws.String(":s=#s"),
		ExpressionAttributeNames:  map[string]string{"#s": "shard"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: "5"}},
	})
	if err != nil || len(out.Items) != 3 {
		t.Fatalf("index query: %v, %v", out, err)
	}
	if got := sim.Stats().Keys[indexKey(table, "5")].ReadUnits; got != 1.5 {
		t.Errorf("index query of 3 x 3,000 bytes: %v RCU, want 1.5", got)
	}
	sim.Reset()
	if _, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "a"}, "version": &types.AttributeValueMemberN{Value: "0"}}}); err != nil {
		t.Fatal(err)
	}
	if got := sim.Stats().Total.ReadUnits; got != 0.5 {
		t.Errorf("eventually consistent get of 3,000 bytes: %v RCU, want 0.5", got)
	}
}

// A read bucket in debt answers ProvisionedThroughputExceededException
// without forwarding, and the SDK decodes it.
func TestReadThrottledInDebt(t *testing.T) {
	table := newTable(t)
	clk := newClock()
	sim, client := newSim(t, limits.Config{Scale: 0.001, Now: clk.Now, Lag: limits.Lag{Disabled: true}}) // 3 RCU/s, 3 in the bucket
	put(t, client, table, commit("a", 0, -1, 20000))                                                     // 5 RCU to read
	get := func() error {
		_, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"aggregateId": &types.AttributeValueMemberS{Value: "a"}, "version": &types.AttributeValueMemberN{Value: "0"}}})
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("first read: %v", err)
	}
	var pte *types.ProvisionedThroughputExceededException
	if err := get(); !errors.As(err, &pte) || aws.ToString(pte.ThrottlingReasons[0].Reason) != "TableReadKeyRangeThroughputExceeded" {
		t.Fatalf("read in debt: %v, want ProvisionedThroughputExceededException", err)
	}
	clk.Add(700 * time.Millisecond) // -2 + 2.1
	if err := get(); err != nil {
		t.Fatalf("read out of debt: %v", err)
	}
	if st := sim.Stats().Total; st.ReadUnits != 10 || st.ReadThrottles != 1 {
		t.Errorf("stats %+v, want 10 RCU, 1 throttle", st)
	}
}

// countingTransport counts the requests of each operation it forwards.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	ops  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	target := r.Header.Get("X-Amz-Target")
	c.mu.Lock()
	c.ops[target[strings.LastIndexByte(target, '.')+1:]]++
	c.mu.Unlock()
	return c.base.RoundTrip(r)
}

func (c *countingTransport) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

// A put that requires its key to be free (attribute_not_exists on a key
// attribute, the eventstore's puts) is forwarded without reading the old
// item first: it pays the new item's size; when its condition fails it pays
// the larger of the two, from the old item the answer returns (ALL_OLD) or,
// when the answer has none, from a read then. Any other condition still
// reads the old item first.
func TestPutOnFreeKeySkipsRead(t *testing.T) {
	table := newTable(t)
	sim, err := limits.New(limits.Config{Lag: limits.Lag{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingTransport{base: http.DefaultTransport, ops: map[string]int{}}
	client := dynamotest.Client(t, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: sim.Transport(counter)}
		o.RetryMaxAttempts = 1
	})
	ctx := context.Background()
	putIf := func(it map[string]types.AttributeValue, cond string, names map[string]string, rv types.ReturnValuesOnConditionCheckFailure) error {
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table), Item: it,
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: names,
			ReturnValuesOnConditionCheckFailure: rv,
		})
		return err
	}
	for _, tc := range []struct {
		name     string
		cond     string
		names    map[string]string
		rv       types.ReturnValuesOnConditionCheckFailure
		wantRead bool
	}{
		{"plain", "attribute_not_exists(aggregateId)", nil, types.ReturnValuesOnConditionCheckFailureAllOld, false},
		{"named sort key", " ( attribute_not_exists( #v ) ) ", map[string]string{"#v": "version"}, types.ReturnValuesOnConditionCheckFailureAllOld, false},
		{"no old item returned", "attribute_not_exists(aggregateId)", nil, "", false},
		{"not a key", "attribute_not_exists(events)", nil, types.ReturnValuesOnConditionCheckFailureAllOld, true},
		{"disjunction", "attribute_not_exists(#a) OR attribute_not_exists(events)", map[string]string{"#a": "aggregateId"}, types.ReturnValuesOnConditionCheckFailureAllOld, true},
	} {
		agg := strings.ReplaceAll(tc.name, " ", "-")
		sim.Reset()
		before := counter.count("GetItem")
		if err := putIf(commit(agg, 0, 1, 1500), tc.cond, tc.names, tc.rv); err != nil {
			t.Fatalf("%s: put on a free key: %v", tc.name, err)
		}
		if got := counter.count("GetItem") - before; (got > 0) != tc.wantRead {
			t.Errorf("%s: put on a free key read the old item %d times, want read %v", tc.name, got, tc.wantRead)
		}
		if got := sim.Stats().Keys[tableKey(table, agg)].WriteUnits; got != 2 {
			t.Errorf("%s: put of 1,500 bytes on a free key: table charged %v WCU, want 2", tc.name, got)
		}
		if got := sim.Stats().Keys[indexKey(table, "1")].WriteUnits; got != 2 {
			t.Errorf("%s: put of 1,500 bytes on a free key: index charged %v WCU, want 2", tc.name, got)
		}

		// Over a stored item of 3,000 bytes: the larger, 3 WCU, and
		// nothing to the index. A smaller stored item: the new one's size.
		for _, stored := range []struct{ size, want int }{{3000, 3}, {500, 2}} {
			key := agg + "-" + itoa(stored.size)
			put(t, client, table, commit(key, 0, 1, stored.size))
			sim.Reset()
			before := counter.count("GetItem")
			err := putIf(commit(key, 0, 1, 1500), tc.cond, tc.names, tc.rv)
			var ccf *types.ConditionalCheckFailedException
			if !errors.As(err, &ccf) {
				t.Fatalf("%s: put over an item: %v, want ConditionalCheckFailedException", tc.name, err)
			}
			if got := counter.count("GetItem") - before; !tc.wantRead && tc.rv != "" && got != 0 {
				t.Errorf("%s: failed put answered with the old item read it %d times, want 0", tc.name, got)
			}
			st := sim.Stats()
			if got := st.Keys[tableKey(table, key)].WriteUnits; got != float64(stored.want) {
				t.Errorf("%s: failed put of 1,500 bytes over %d bytes: table charged %v WCU, want %d", tc.name, stored.size, got, stored.want)
			}
			if got := st.Resources[limits.Resource{Table: table, Index: index}].WriteUnits; got != 0 {
				t.Errorf("%s: failed put: index charged %v WCU, want 0", tc.name, got)
			}
		}
	}
}
