// Quickstart: create a table, append bakerface's account example as two
// commits, provoke a version conflict, read the aggregate back and scan the
// global log.
//
// On a fresh clone, against a DynamoDB Local started for the run (make demo
// does the same):
//
//	scripts/with-dynamodb.sh go run ./examples/quickstart
//
// or, with one already listening, DYNAMODB_ENDPOINT=http://127.0.0.1:8000
// go run ./examples/quickstart. Without DYNAMODB_ENDPOINT it uses the
// standard AWS configuration (environment, shared config, instance role)
// and creates the table QUICKSTART_TABLE (default "eventstore-quickstart")
// in that account.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	client, err := newClient(ctx)
	if err != nil {
		return err
	}
	table := os.Getenv("QUICKSTART_TABLE")
	if table == "" {
		table = "eventstore-quickstart"
	}
	store, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		return err
	}
	fmt.Printf("1. create table %s (and its scan index %s)\n", table, eventstore.DefaultIndex)
	if err := store.CreateTable(ctx); err != nil {
		return err
	}

	account := fmt.Sprintf("account#%d", time.Now().UnixNano())
	created, err := store.Append(ctx, eventstore.Commit{
		AggregateID: account,
		Version:     0,
		Events: []eventstore.Event{
			{Type: "accountCreated", Data: json.RawMessage(`{"username":"john","email":"john@doe.com"}`)},
			{Type: "profileEdited", Data: json.RawMessage(`{"name":"John Doe","company":"Doe, Inc."}`)},
		},
		Metadata: map[string]string{"user": "quickstart"},
	})
	if err != nil {
		return err
	}
	fmt.Printf("2. appended version 0 of %s: 2 events, commit %s\n", account, created.CommitID)

	deleted, err := store.Append(ctx, eventstore.Commit{AggregateID: account, Version: 1,
		Events: []eventstore.Event{{Type: "accountDeleted"}}})
	if err != nil {
		return err
	}
	fmt.Printf("3. appended version 1: accountDeleted, commit %s\n", deleted.CommitID)

	// A writer that still believes version 1 is free loses the race.
	_, err = store.Append(ctx, eventstore.Commit{AggregateID: account, Version: 1,
		Events: []eventstore.Event{{Type: "profileEdited", Data: json.RawMessage(`{"name":"J. Doe"}`)}}})
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) {
		return fmt.Errorf("expected a version conflict, got %v", err)
	}
	fmt.Printf("4. a stale writer at version 1 gets: %v\n", conflict)

	fmt.Printf("5. query %s from version 0:\n", account)
	for c, err := range store.Query(ctx, account, 0) {
		if err != nil {
			return err
		}
		printCommit(c)
	}

	// The global log waits out the settle window (10 s by default) before it
	// yields a commit; the demo reads it without waiting.
	fmt.Println("6. scan the global log (settle window 0 for the demo):")
	for c, err := range store.Scan(ctx, "", eventstore.WithSettle(0)) {
		if err != nil {
			return err
		}
		if c.AggregateID == account {
			printCommit(c)
		}
	}
	return nil
}

func printCommit(c eventstore.Commit) {
	fmt.Printf("   %s v%d at %s (commit %s)\n", c.AggregateID, c.Version, c.CommittedAt.Format(time.RFC3339Nano), c.CommitID)
	for _, e := range c.Events {
		fmt.Printf("     %s %s\n", e.Type, e.Data)
	}
}

// newClient connects to DYNAMODB_ENDPOINT with static local credentials, or
// to AWS with the standard configuration.
func newClient(ctx context.Context) (*dynamodb.Client, error) {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.DisableValidateResponseChecksum = true // DynamoDB Local sends CRC32 0 on some errors
		}
	}), nil
}
