// Streams shows the store's DynamoDB stream consumed by a Lambda-style
// handler: the table is created with Config.Stream, commits are appended
// (two aggregates in one AppendAll, then one more Append), and each stream
// record's new image is turned back into its Commit with
// eventstore.ParseImageJSON and projected, here printed.
//
// On a fresh clone, against a DynamoDB Local started for the run:
//
//	scripts/with-dynamodb.sh go run ./examples/streams
//
// or, with one already listening, DYNAMODB_ENDPOINT=http://127.0.0.1:8000
// go run ./examples/streams. Without DYNAMODB_ENDPOINT it uses the
// standard AWS configuration and the table STREAMS_TABLE (default
// "eventstore-streams"), created if missing.
//
// Locally, poll plays Lambda's event source mapping: it reads the stream
// with the DynamoDB Streams API and hands the handler the JSON events
// Lambda would deliver. In AWS Lambda the same handler runs as
//
//	lambda.Start(Handler{Project: project}.Handle) // github.com/aws/aws-lambda-go/lambda
//
// with an event source mapping on the table's stream (starting position
// TRIM_HORIZON, FunctionResponseTypes ReportBatchItemFailures) and a role
// allowed dynamodb:DescribeStream, GetRecords, GetShardIterator and
// ListStreams on the stream.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/dynacommit/eventstore"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, streams, err := newClients(ctx)
	if err != nil {
		log.Fatal(err)
	}
	table := os.Getenv("STREAMS_TABLE")
	if table == "" {
		table = "eventstore-streams"
	}
	if err := run(ctx, os.Stdout, db, streams, table); err != nil {
		log.Fatal(err)
	}
}

// run appends the demo commits under a fresh run id and prints every
// commit the stream holds.
func run(ctx context.Context, out io.Writer, db *dynamodb.Client, streams streamsAPI, table string) error {
	store, err := eventstore.New(db, eventstore.Config{Table: table, Stream: true})
	if err != nil {
		return err
	}
	if err := store.CreateTable(ctx); err != nil {
		return err
	}
	id := time.Now().UTC().Format("150405.000")
	order, stock := "order#"+id, "stock#"+id
	if _, err := store.AppendAll(ctx,
		eventstore.Commit{AggregateID: order, Events: []eventstore.Event{{Type: "orderPlaced", Data: json.RawMessage(`{"sku":"A-1","qty":2}`)}}},
		eventstore.Commit{AggregateID: stock, Events: []eventstore.Event{{Type: "stockReserved", Data: json.RawMessage(`{"sku":"A-1","qty":2}`)}}},
	); err != nil {
		return err
	}
	if _, err := store.Append(ctx, eventstore.Commit{AggregateID: order, Version: 1,
		Events: []eventstore.Event{{Type: "orderShipped"}}}); err != nil {
		return err
	}
	d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return err
	}
	h := Handler{Project: func(_ context.Context, c eventstore.Commit) error {
		for _, e := range c.Events {
			fmt.Fprintf(out, "%s v%d %s %s %s\n", c.AggregateID, c.Version, c.CommitID, e.Type, e.Data)
		}
		return nil
	}}
	return poll(ctx, streams, aws.ToString(d.Table.LatestStreamArn), h.Handle)
}

// newClients connects to DYNAMODB_ENDPOINT with static credentials, or to
// AWS with the default configuration.
func newClients(ctx context.Context) (*dynamodb.Client, *dynamodbstreams.Client, error) {
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
		return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
				o.BaseEndpoint = aws.String(ep)
				o.DisableValidateResponseChecksum = true
			}), dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
				o.BaseEndpoint = aws.String(ep)
			}), nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	return dynamodb.NewFromConfig(cfg), dynamodbstreams.NewFromConfig(cfg), nil
}
