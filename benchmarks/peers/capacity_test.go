package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

func TestNumberSize(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "7": 2, "10": 2, "12": 2, "123": 3, "-1234": 3, "0.0012": 2, "1000000": 2, "1.5e10": 2} {
		if got := numberSize(in); got != want {
			t.Errorf("numberSize(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestItemSize(t *testing.T) {
	var item map[string]attr
	body := `{"id":{"S":"abc"},"n":{"N":"42"},"b":{"B":"AAEC"},"ok":{"BOOL":true},
		"m":{"M":{"k":{"S":"vv"}}},"l":{"L":[{"S":"x"},{"NULL":true}]}}`
	if err := json.Unmarshal([]byte(body), &item); err != nil {
		t.Fatal(err)
	}
	// id 2+3, n 1+2, b 1+3, ok 2+1, m 1+(3+1+1+2), l 1+(3+1+1+1+1)
	want := 5 + 3 + 4 + 3 + 8 + 8
	if got, err := itemSize(item); err != nil || got != want {
		t.Errorf("itemSize = %d, %v; want %d", got, err, want)
	}
}

// TestProxyCountsPutItemAsDynamoDB checks, through the proxy, that the write
// units computed for PutItems of several sizes, on a table with a sparse
// KEYS_ONLY index and a projection ALL index, are those DynamoDB Local
// reports, and that a transaction is billed 2 units per KB per item.
func TestProxyCountsPutItemAsDynamoDB(t *testing.T) {
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	ctx := context.Background()
	key := func(name string, typ types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: typ}
	}
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{key("pk", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String("all"), KeySchema: []types.KeySchemaElement{key("g", types.KeyTypeHash), key("sk", types.KeyTypeRange)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}},
			{IndexName: aws.String("keys"), KeySchema: []types.KeySchemaElement{key("g", types.KeyTypeHash)},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(dynamotest.Endpoint(t), &tables{client: client})
	srv := httptest.NewServer(p)
	defer srv.Close()
	via := dynamotest.NewClient(srv.URL)

	p.setPhase("put")
	for i, size := range []int{10, 900, 1000, 1100, 3000, 5000} {
		item := map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprint("p", i)},
			"sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i * 1234567)},
			"d":  &types.AttributeValueMemberS{Value: strings.Repeat("x", size)},
			"m":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"a": &types.AttributeValueMemberN{Value: "3.14"}}},
		}
		if i%2 == 0 {
			item["g"] = &types.AttributeValueMemberS{Value: "in-the-index"}
		}
		if _, err := via.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put := p.take("put")
	if put.Requests != 6 || put.Mismatches != 0 || put.WCU != put.LocalWCU {
		t.Errorf("PutItems: %+v; want 6 requests, no mismatch", put)
	}

	p.setPhase("tx")
	var items []types.TransactWriteItem
	for i := range 3 {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "tx"},
			"sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
			"d":  &types.AttributeValueMemberS{Value: strings.Repeat("x", 1500)},
		}}})
	}
	items[0].Put.Item["g"] = &types.AttributeValueMemberS{Value: "first"}
	if _, err := via.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		t.Fatal(err)
	}
	// 3 items of 2 KB, twice; the first also in "all" (2 KB) and "keys" (1 KB).
	if tx := p.take("tx"); tx.WCU != 3*2*2+2+1 {
		t.Errorf("TransactWriteItems: %v WCU, want 15", tx.WCU)
	}
}
