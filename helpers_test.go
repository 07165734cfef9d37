package eventstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// newStore returns a store on a fresh table, its client and the table name.
func newStore(tb testing.TB, cfg eventstore.Config, optFns ...func(*dynamodb.Options)) (*eventstore.Store, *dynamodb.Client, string) {
	tb.Helper()
	client := dynamotest.Client(tb)
	cfg.Table = dynamotest.TableName(tb, client)
	s, _ := dynamotest.NewStore(tb, cfg, optFns...)
	return s, client, cfg.Table
}

// randomText returns n random characters of a 64-letter alphabet: JSON-safe
// and hard to compress (DEFLATE gets it to about 75%).
func randomText(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[b[i]%64]
	}
	return string(b)
}

// ctxT is a context bounded so that a hung request fails the test.
func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// event returns an event of type typ with data {"n": n}.
func event(typ string, n int) eventstore.Event {
	return eventstore.Event{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func commit(aggregateID string, version int64, events ...eventstore.Event) eventstore.Commit {
	if len(events) == 0 {
		events = []eventstore.Event{event("happened", int(version))}
	}
	return eventstore.Commit{AggregateID: aggregateID, Version: version, Events: events}
}

// mustAppend appends c and fails the test on error.
func mustAppend(tb testing.TB, s *eventstore.Store, c eventstore.Commit) eventstore.Commit {
	tb.Helper()
	stored, err := s.Append(ctxT(tb), c)
	if err != nil {
		tb.Fatalf("Append(%s v%d): %v", c.AggregateID, c.Version, err)
	}
	return stored
}

// collect drains a sequence, failing the test on error.
func collect(tb testing.TB, seq func(func(eventstore.Commit, error) bool)) []eventstore.Commit {
	tb.Helper()
	var out []eventstore.Commit
	for c, err := range seq {
		if err != nil {
			tb.Fatalf("sequence: %v", err)
		}
		out = append(out, c)
	}
	return out
}

// countItems counts the commit items of a table with a raw Scan (not the
// metadata item that records the shard count, nor fences).
func countItems(tb testing.TB, client *dynamodb.Client, table string) int {
	tb.Helper()
	n := 0
	p := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("version >= :zero AND attribute_exists(commitId)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":zero": &types.AttributeValueMemberN{Value: "0"}},
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctxT(tb))
		if err != nil {
			tb.Fatalf("scan %s: %v", table, err)
		}
		n += len(out.Items)
	}
	return n
}
