package eventstore_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// CreateTable makes the aggregates index, the stream and TTL, and the
// table passes its own check when CreateTable runs again.
func TestCreateTableWithEveryFeature(t *testing.T) {
	t.Parallel()
	cfg := eventstore.Config{AggregatesIndex: "firsts", Stream: true, TTL: 24 * time.Hour, ReadCapacity: 4, WriteCapacity: 2}
	s, client, table := newStore(t, cfg)
	if err := s.CreateTable(ctxT(t)); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	out, err := client.DescribeTable(ctxT(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.StreamSpecification == nil || !aws.ToBool(d.StreamSpecification.StreamEnabled) || d.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage {
		t.Errorf("stream %+v, want new images", d.StreamSpecification)
	}
	found := false
	for _, ix := range d.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) == "firsts" {
			found = true
			if ix.Projection.ProjectionType != types.ProjectionTypeKeysOnly || aws.ToInt64(ix.ProvisionedThroughput.WriteCapacityUnits) != 2 {
				t.Errorf("aggregates index %+v, want keys only, with the store's capacity", ix)
			}
		}
	}
	if !found {
		t.Errorf("no aggregates index among %d indexes", len(d.GlobalSecondaryIndexes))
	}
	ttl, err := client.DescribeTimeToLive(ctxT(t), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expiresAt" {
		t.Errorf("time to live %+v, want enabled on expiresAt", ttl.TimeToLiveDescription)
	}
}

// A store with a feature refuses a table made without it, and one with TTL
// on another attribute, whose commits would never expire.
func TestCreateTableRefusesATableWithoutTheFeature(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	streamed := storeOn(t, client, table, eventstore.Config{Stream: true})
	if err := streamed.CreateTable(ctxT(t)); !errors.Is(err, eventstore.ErrTableMismatch) {
		t.Errorf("CreateTable with Stream on a table without one: %v, want ErrTableMismatch", err)
	}
	if _, err := client.UpdateTimeToLive(ctxT(t), &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("other"), Enabled: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	expiring := storeOn(t, client, table, eventstore.Config{TTL: time.Hour})
	if err := expiring.CreateTable(ctxT(t)); !errors.Is(err, eventstore.ErrTableMismatch) || !strings.Contains(err.Error(), "other") {
		t.Errorf("CreateTable with TTL on a table expiring another attribute: %v, want ErrTableMismatch naming it", err)
	}
}

// Every commit carries its expiry, CommittedAt + TTL in unix seconds, the
// same on every attempt.
func TestTTLWritesTheExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 90 * time.Minute
	s, client, table := newStore(t, eventstore.Config{TTL: ttl})
	one := mustAppend(t, s, commit("a", 0))
	group, err := s.AppendAll(ctxT(t), commit("a", 1), commit("b", 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(group, one) {
		out, err := client.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{
				"aggregateId": &types.AttributeValueMemberS{Value: c.AggregateID},
				"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)}}})
		if err != nil {
			t.Fatal(err)
		}
		n, ok := out.Item["expiresAt"].(*types.AttributeValueMemberN)
		if want := strconv.FormatInt(c.CommittedAt.Add(ttl).Unix(), 10); !ok || n.Value != want {
			t.Errorf("%s v%d expiresAt %v, want %s", c.AggregateID, c.Version, out.Item["expiresAt"], want)
		}
	}
	// Without TTL, no expiry.
	plain, plainClient, plainTable := newStore(t, eventstore.Config{})
	mustAppend(t, plain, commit("a", 0))
	items, err := plainClient.Scan(ctxT(t), &dynamodb.ScanInput{TableName: aws.String(plainTable)})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range items.Items {
		if _, has := item["expiresAt"]; has {
			t.Errorf("item %v of a store without TTL has expiresAt", item)
		}
	}
}

func TestNewValidatesFeatures(t *testing.T) {
	t.Parallel()
	client := &dynamodb.Client{}
	_, err := eventstore.New(client, eventstore.Config{Table: "events", TTL: 5 * time.Second, AggregatesIndex: "x", AppendNextAttempts: -1})
	for _, want := range []string{"Config.TTL", "Config.AggregatesIndex", "Config.AppendNextAttempts"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New: %v, want an error about %s", err, want)
		}
	}
	_, err = eventstore.New(client, eventstore.Config{Table: "events", AggregatesIndex: eventstore.DefaultIndex})
	if err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Errorf("New with the aggregates index named as the scan index: %v, want an error", err)
	}
	if _, err := eventstore.New(client, eventstore.Config{Table: "events", TTL: -time.Hour}); err == nil {
		t.Error("New accepted a negative TTL")
	}
	if _, err := eventstore.New(client, eventstore.Config{Table: "events", TTL: time.Hour, AggregatesIndex: eventstore.DefaultAggregatesIndex}); err != nil {
		t.Errorf("New with valid features: %v", err)
	}
}
