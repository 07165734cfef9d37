package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// memClient keeps the items PutItem was given by key, for GetItem, and
// returns the last commit item (one with a commitId) to every Query: Append
// then runs validation and encoding only, Query decoding only, with no
// network and no condition checks. Not safe for concurrent use.
type memClient struct {
	eventstore.DynamoDBAPI // nil: other calls panic
	items                  map[string]map[string]types.AttributeValue
	commit                 map[string]types.AttributeValue
}

// itemKey is the item's aggregateId and version.
func itemKey(item map[string]types.AttributeValue) string {
	a, _ := item["aggregateId"].(*types.AttributeValueMemberS)
	v, _ := item["version"].(*types.AttributeValueMemberN)
	if a == nil || v == nil {
		return ""
	}
	return a.Value + "/" + v.Value
}

func (m *memClient) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if m.items == nil {
		m.items = make(map[string]map[string]types.AttributeValue)
	}
	m.items[itemKey(in.Item)] = in.Item
	if _, ok := in.Item["commitId"]; ok {
		m.commit = in.Item
	}
	return &dynamodb.PutItemOutput{}, nil
}

func (m *memClient) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: m.items[itemKey(in.Key)]}, nil
}

func (m *memClient) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if m.commit == nil {
		return nil, errors.New("memClient: no commit")
	}
	return &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{m.commit}}, nil
}

// BenchmarkCodec measures, in process, what Append does before its request
// (validate, assign a CommitID, encode the item) and what Query does with
// an item it read (decode), for commits of 1, 10 and 100 events of about
// 200 bytes. 100 events exceed the compression threshold, so they are
// DEFLATE-compressed and inflated.
func BenchmarkCodec(b *testing.B) {
	payloads := Payloads(1000)
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		c := eventstore.Commit{AggregateID: "account#42", Version: 0, Events: Events(payloads, 0, n),
			Metadata: map[string]string{"correlationId": "9f1c2a", "user": "john"}}
		client := &memClient{}
		store, err := eventstore.New(client, eventstore.Config{Table: "codec"})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("op=encode/events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.Append(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			reportPerEvent(b, n)
		})
		b.Run(fmt.Sprintf("op=decode/events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for got, err := range store.Query(ctx, c.AggregateID, 0) {
					if err != nil || len(got.Events) != n {
						b.Fatalf("Query: %d events, %v", len(got.Events), err)
					}
				}
			}
			reportPerEvent(b, n)
		})
		b.Run(fmt.Sprintf("op=roundtrip/events=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.Append(ctx, c); err != nil {
					b.Fatal(err)
				}
				for _, err := range store.Query(ctx, c.AggregateID, 0) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			reportPerEvent(b, n)
		})
	}
}

// reportPerEvent reports the time per event of a benchmark whose every
// iteration handles n events.
func reportPerEvent(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
