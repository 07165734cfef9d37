package eventstore_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

func TestCreateTableIsIdempotent(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	if err := s.CreateTable(ctxT(t)); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	out, err := client.DescribeTable(ctxT(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive || len(out.Table.GlobalSecondaryIndexes) != 1 ||
		aws.ToString(out.Table.GlobalSecondaryIndexes[0].IndexName) != eventstore.DefaultIndex {
		t.Errorf("table %+v, want ACTIVE with the scan index", out.Table)
	}
	if out.Table.BillingModeSummary == nil || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %+v, want on-demand", out.Table.BillingModeSummary)
	}
}

func TestCreateTableProvisioned(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	s, err := eventstore.New(client, eventstore.Config{Table: table, Index: "byCommit", ReadCapacity: 7, WriteCapacity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	out, err := client.DescribeTable(ctxT(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	pt := out.Table.ProvisionedThroughput
	if aws.ToInt64(pt.ReadCapacityUnits) != 7 || aws.ToInt64(pt.WriteCapacityUnits) != 3 {
		t.Errorf("provisioned %d/%d, want 7/3", aws.ToInt64(pt.ReadCapacityUnits), aws.ToInt64(pt.WriteCapacityUnits))
	}
	mustAppend(t, s, commit("a", 0))
}

func TestCreateTableRefusesAnotherSchema(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	_, err := client.CreateTable(ctxT(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctxT(t)); !errors.Is(err, eventstore.ErrTableMismatch) {
		t.Fatalf("CreateTable on a foreign table: %v, want ErrTableMismatch", err)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	client := &dynamodb.Client{}
	_, err := eventstore.New(client, eventstore.Config{Table: "x", ScanShards: -1, ReadCapacity: 5, Settle: -1})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"Config.Table", "Config.ScanShards", "WriteCapacity", "Config.Settle"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := eventstore.New(nil, eventstore.Config{Table: "events"}); err == nil {
		t.Error("New accepted a nil client")
	}
	if _, err := eventstore.New(client, eventstore.Config{Table: "events"}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

func TestShardCountIsRecordedAndChecked(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{ScanShards: 4})
	other, err := eventstore.New(client, eventstore.Config{Table: table, ScanShards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Append(ctxT(t), commit("a", 0)); !errors.Is(err, eventstore.ErrShardMismatch) {
		t.Errorf("Append with another shard count: %v, want ErrShardMismatch", err)
	}
	for _, err := range other.Scan(ctxT(t), "") {
		if !errors.Is(err, eventstore.ErrShardMismatch) {
			t.Errorf("Scan with another shard count: %v, want ErrShardMismatch", err)
		}
	}
	if err := other.CreateTable(ctxT(t)); !errors.Is(err, eventstore.ErrShardMismatch) {
		t.Errorf("CreateTable with another shard count: %v, want ErrShardMismatch", err)
	}
	if n := countItems(t, client, table); n != 0 {
		t.Errorf("%d commits written by a mismatched store", n)
	}
}

// A table made elsewhere (infrastructure as code) records the shard count
// of the first store that uses it.
func TestShardCountOfATableMadeElsewhere(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	first, err := eventstore.New(client, eventstore.Config{Table: table, ScanShards: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.CreateTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// Forget the record, as if the table came from CloudFormation.
	if _, err := client.DeleteItem(ctxT(t), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"}, "version": &types.AttributeValueMemberN{Value: "-1"}}}); err != nil {
		t.Fatal(err)
	}
	writer, _ := eventstore.New(client, eventstore.Config{Table: table, ScanShards: 3})
	mustAppend(t, writer, commit("a", 0))
	reader, _ := eventstore.New(client, eventstore.Config{Table: table, ScanShards: 5})
	for _, err := range reader.Scan(ctxT(t), "") {
		if !errors.Is(err, eventstore.ErrShardMismatch) {
			t.Errorf("reader with another count: %v, want ErrShardMismatch", err)
		}
	}
}
