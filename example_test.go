package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// exampleStore returns a store on a new table of a local DynamoDB.
func exampleStore(name string) *eventstore.Store {
	endpoint, err := dynamotest.Start()
	if err != nil {
		log.Fatal(err)
	}
	store, err := eventstore.New(dynamotest.NewClient(endpoint), eventstore.Config{
		Table: fmt.Sprintf("example-%s-%d", name, time.Now().UnixNano()),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(context.Background()); err != nil {
		log.Fatal(err)
	}
	return store
}

func ExampleNew() {
	// client is a *dynamodb.Client; here one of a local DynamoDB.
	endpoint, err := dynamotest.Start()
	if err != nil {
		log.Fatal(err)
	}
	client := dynamotest.NewClient(endpoint)

	store, err := eventstore.New(client, eventstore.Config{Table: "example-new", ScanShards: 8})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(context.Background()); err != nil {
		log.Fatal(err)
	}
	_, err = eventstore.New(client, eventstore.Config{Table: ""})
	fmt.Println(err)
	// Output:
	// eventstore: Config.Table "" must have 3 to 255 characters
}

func ExampleStore_Append() {
	ctx := context.Background()
	store := exampleStore("append")

	_, err := store.Append(ctx, eventstore.Commit{
		AggregateID: "account#1",
		Version:     0,
		Events: []eventstore.Event{
			{Type: "accountCreated", Data: json.RawMessage(`{"username":"john"}`)},
			{Type: "profileEdited", Data: json.RawMessage(`{"name":"John Doe"}`)},
		},
	})
	fmt.Println("first append:", err)

	// Someone else appends version 0 again: a conflict.
	_, err = store.Append(ctx, eventstore.Commit{
		AggregateID: "account#1",
		Version:     0,
		Events:      []eventstore.Event{{Type: "accountCreated"}},
	})
	var conflict *eventstore.VersionConflictError
	fmt.Println("conflict:", errors.As(err, &conflict), conflict.Version)
	// Output:
	// first append: <nil>
	// conflict: true 0
}

func ExampleStore_Query() {
	ctx := context.Background()
	store := exampleStore("query")
	for v, typ := range []string{"accountCreated", "profileEdited", "accountDeleted"} {
		store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Version: int64(v),
			Events: []eventstore.Event{{Type: typ}}})
	}

	for c, err := range store.Query(ctx, "account#1", 1) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Version, c.Events[0].Type)
	}
	// Output:
	// 1 profileEdited
	// 2 accountDeleted
}

func ExampleStore_Scan() {
	ctx := context.Background()
	store := exampleStore("scan")
	store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Events: []eventstore.Event{{Type: "accountCreated"}}})
	first, _ := store.Append(ctx, eventstore.Commit{AggregateID: "account#2", Events: []eventstore.Event{{Type: "accountCreated"}}})
	store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Version: 1, Events: []eventstore.Event{{Type: "accountDeleted"}}})

	// Resume after a checkpoint. A settle window of 0 yields commits as soon
	// as they are visible; production readers keep the default.
	for c, err := range store.Scan(ctx, first.CommitID, eventstore.WithSettle(0)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.AggregateID, c.Version, c.Events[0].Type)
	}
	// Output:
	// account#1 1 accountDeleted
}

func ExampleStore_Tail() {
	ctx := context.Background()
	store := exampleStore("tail")
	placed := func(v int64) eventstore.Commit {
		return eventstore.Commit{AggregateID: "order#7", Version: v,
			Events: []eventstore.Event{{Type: "itemAdded", Data: json.RawMessage(`{"sku":"x"}`)}}}
	}
	for v := range int64(2) {
		if _, err := store.Append(ctx, placed(v)); err != nil {
			log.Fatal(err)
		}
	}

	// Follow the log live from the beginning. A service ends a Tail by
	// ending its ctx (at shutdown); here, after the third commit. When ctx
	// ends, the sequence just ends: an error in the loop is a real failure.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	caughtUp := eventstore.OnCaughtUp(func() {
		fmt.Println("caught up")
		if _, err := store.Append(ctx, placed(2)); err != nil {
			log.Fatal(err)
		}
	})
	checkpoint, seen := "", 0
	for c, err := range store.Tail(ctx, "", eventstore.Live(), caughtUp,
		eventstore.OnCheckpoint(func(cp string) { checkpoint = cp })) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.AggregateID, c.Version, c.Events[0].Type)
		if seen++; seen == 3 {
			cancel()
		}
	}
	// A restart from checkpoint (stored with the read model) skips nothing;
	// it may repeat commits yielded after it, recognisable by version.
	_ = checkpoint
	fmt.Println("stopped")
	// Output:
	// order#7 0 itemAdded
	// order#7 1 itemAdded
	// caught up
	// order#7 2 itemAdded
	// stopped
}

// A loop over a live Tail may simply break: the Tail stops its requests
// and returns. Here a consumer waits for an order's shipment.
func ExampleStore_Tail_break() {
	ctx := context.Background()
	store := exampleStore("tail-break")
	go func() {
		for v, typ := range []string{"placed", "paid", "shipped"} {
			c := eventstore.Commit{AggregateID: "order#8", Version: int64(v),
				Events: []eventstore.Event{{Type: typ, Data: json.RawMessage(`{}`)}}}
			if _, err := store.Append(ctx, c); err != nil {
				log.Fatal(err)
			}
		}
	}()

	shipped := func(c eventstore.Commit) bool { return c.Events[0].Type == "shipped" }
	for c, err := range store.Tail(ctx, "", eventstore.Live()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.AggregateID, c.Version, c.Events[0].Type)
		if shipped(c) {
			break
		}
	}
	fmt.Println("done")
	// Output:
	// order#8 0 placed
	// order#8 1 paid
	// order#8 2 shipped
	// done
}
