package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// streamStore returns a store on a fresh table with a stream, its client,
// a Streams client of the same DynamoDB, and the stream's ARN.
func streamStore(t *testing.T) (*eventstore.Store, *dynamodb.Client, *dynamodbstreams.Client, string) {
	t.Helper()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	s, _ := dynamotest.NewStore(t, eventstore.Config{Table: table, Stream: true})
	streams := dynamodbstreams.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: client.Options().Credentials},
		func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(dynamotest.Endpoint(t)) })
	d, err := client.DescribeTable(ctxT(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	return s, client, streams, aws.ToString(d.Table.LatestStreamArn)
}

func appendDemo(t *testing.T, s *eventstore.Store) []eventstore.Commit {
	t.Helper()
	group, err := s.AppendAll(ctxT(t),
		eventstore.Commit{AggregateID: "order#1", Events: []eventstore.Event{{Type: "orderPlaced", Data: []byte(`{"qty":2}`)}}},
		eventstore.Commit{AggregateID: "stock#9", Events: []eventstore.Event{{Type: "stockReserved"}}, Metadata: map[string]string{"by": "shop"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Append(ctxT(t), eventstore.Commit{AggregateID: "order#1", Version: 1, Events: []eventstore.Event{{Type: "orderShipped"}}})
	if err != nil {
		t.Fatal(err)
	}
	return append(group, c)
}

// The handler, fed the records of DynamoDB Local's stream as Lambda would
// deliver them, projects exactly the stored commits, skipping the metadata
// item and a REMOVE (as TTL makes).
func TestHandlerProjectsTheStream(t *testing.T) {
	t.Parallel()
	s, client, streams, arn := streamStore(t)
	want := appendDemo(t, s)
	table := tableOf(arn)
	if _, err := client.DeleteItem(ctxT(t), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "stock#9"}, "version": &types.AttributeValueMemberN{Value: "0"}}}); err != nil {
		t.Fatal(err)
	}
	var got []eventstore.Commit
	records := 0
	h := Handler{Project: func(_ context.Context, c eventstore.Commit) error {
		got = append(got, c)
		return nil
	}}
	err := poll(ctxT(t), streams, arn, func(ctx context.Context, ev StreamEvent) (BatchResponse, error) {
		records += len(ev.Records)
		return h.Handle(ctx, ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != 5 { // the metadata item, 3 commits, 1 REMOVE
		t.Errorf("stream held %d records, want 5", records)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("projected commits (-stored +projected):\n%s", diff)
	}
}

// When Project fails, the handler reports that record and stops, so Lambda
// retries from it in order.
func TestHandlerReportsTheFirstFailure(t *testing.T) {
	t.Parallel()
	s, _, streams, arn := streamStore(t)
	appendDemo(t, s)
	var projected []string
	var failed BatchResponse
	h := Handler{Project: func(_ context.Context, c eventstore.Commit) error {
		if c.AggregateID == "stock#9" {
			return errors.New("projection down")
		}
		projected = append(projected, c.AggregateID)
		return nil
	}}
	err := poll(ctxT(t), streams, arn, func(ctx context.Context, ev StreamEvent) (BatchResponse, error) {
		res, err := h.Handle(ctx, ev)
		if len(res.BatchItemFailures) > 0 {
			failed = res
			for _, r := range ev.Records {
				if r.DynamoDB.SequenceNumber == res.BatchItemFailures[0].ItemIdentifier && !strings.Contains(string(r.DynamoDB.NewImage), "stock#9") {
					t.Errorf("reported record %s is not the failing commit", r.DynamoDB.SequenceNumber)
				}
			}
		}
		return res, err
	})
	if err == nil || len(failed.BatchItemFailures) != 1 {
		t.Fatalf("poll: %v, failures %+v; want the failing record reported", err, failed)
	}
	if !cmp.Equal(projected, []string{"order#1"}) {
		t.Errorf("projected %v before the failure, want only order#1 (and nothing after it)", projected)
	}
}

// The program itself runs against the local DynamoDB and prints its
// commits.
func TestRun(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	streams := dynamodbstreams.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: client.Options().Credentials},
		func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(dynamotest.Endpoint(t)) })
	var out bytes.Buffer
	if err := run(ctxT(t), &out, client, streams, table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "v0") || !strings.Contains(lines[2], "v1") || !strings.Contains(lines[2], "orderShipped") {
		t.Errorf("output:\n%s\nwant the 3 commits", out.String())
	}
}

// tableOf returns the table name in a stream ARN.
func tableOf(arn string) string {
	_, rest, _ := strings.Cut(arn, ":table/")
	name, _, _ := strings.Cut(rest, "/stream/")
	return name
}
