package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// exampleTable returns a client of a local DynamoDB and a new table name.
func exampleTable(name string) (*dynamodb.Client, string) {
	endpoint, err := dynamotest.Start()
	if err != nil {
		log.Fatal(err)
	}
	return dynamotest.NewClient(endpoint), fmt.Sprintf("example-%s-%d", name, time.Now().UnixNano())
}

// featureStore returns a store with cfg on a new table of a local DynamoDB.
func featureStore(name string, cfg eventstore.Config) *eventstore.Store {
	client, table := exampleTable(name)
	cfg.Table = table
	store, err := eventstore.New(client, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(context.Background()); err != nil {
		log.Fatal(err)
	}
	return store
}

func ExampleStore_AppendAll() {
	ctx := context.Background()
	store := featureStore("appendall", eventstore.Config{})

	// An order and the stock it reserves, both or neither.
	commits, err := store.AppendAll(ctx,
		eventstore.Commit{AggregateID: "order#1", Events: []eventstore.Event{{Type: "orderPlaced"}}},
		eventstore.Commit{AggregateID: "stock#9", Events: []eventstore.Event{{Type: "stockReserved"}}},
	)
	fmt.Println(len(commits), err)

	// A second group that wants stock#9 version 0 too: nothing of it is stored.
	_, err = store.AppendAll(ctx,
		eventstore.Commit{AggregateID: "order#2", Events: []eventstore.Event{{Type: "orderPlaced"}}},
		eventstore.Commit{AggregateID: "stock#9", Events: []eventstore.Event{{Type: "stockReserved"}}},
	)
	for _, c := range eventstore.Conflicts(err) {
		fmt.Println("conflict:", c.AggregateID, c.Version, c.CommitID == commits[1].CommitID)
	}
	exists, _ := store.Exists(ctx, "order#2")
	fmt.Println("order#2 stored:", exists)
	// Output:
	// 2 <nil>
	// conflict: stock#9 0 true
	// order#2 stored: false
}

func ExampleStore_AppendNext() {
	ctx := context.Background()
	store := featureStore("appendnext", eventstore.Config{})
	for _, typ := range []string{"pageViewed", "pageViewed", "linkClicked"} {
		c, err := store.AppendNext(ctx, eventstore.Commit{AggregateID: "visitor#7", Events: []eventstore.Event{{Type: typ}}})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Version, typ)
	}
	// Output:
	// 0 pageViewed
	// 1 pageViewed
	// 2 linkClicked
}

func ExampleStore_AppendNew() {
	ctx := context.Background()
	store := featureStore("appendnew", eventstore.Config{})
	signup := eventstore.Commit{AggregateID: "user#alice", Events: []eventstore.Event{{Type: "userRegistered"}}}
	_, err := store.AppendNew(ctx, signup)
	fmt.Println(err)
	_, err = store.AppendNew(ctx, signup) // the name is taken
	fmt.Println(errors.Is(err, eventstore.ErrAggregateExists))
	// Output:
	// <nil>
	// true
}

func ExampleStore_LatestVersion() {
	ctx := context.Background()
	store := featureStore("latest", eventstore.Config{})
	v, _ := store.LatestVersion(ctx, "account#1")
	fmt.Println(v)
	store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Events: []eventstore.Event{{Type: "accountCreated"}}})
	v, _ = store.LatestVersion(ctx, "account#1")
	fmt.Println(v)
	// Output:
	// -1
	// 0
}

func ExampleStore_Aggregates() {
	ctx := context.Background()
	store := featureStore("aggregates", eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex})
	for _, id := range []string{"account#2", "account#1", "account#2"} {
		store.AppendNext(ctx, eventstore.Commit{AggregateID: id, Events: []eventstore.Event{{Type: "touched"}}})
	}
	for id, err := range store.Aggregates(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(id)
	}
	// Output:
	// account#2
	// account#1
}

func ExampleParseImageJSON() {
	// The NewImage of a record in the event a Lambda function receives.
	image := []byte(`{
		"aggregateId": {"S": "order#1"}, "version": {"N": "0"},
		"commitId": {"S": "01JZ0000000000000000000001"}, "committedAt": {"N": "1751272914944"},
		"events": {"S": "[{\"t\":\"orderPlaced\",\"d\":{\"qty\":2}}]"}, "shard": {"N": "3"}}`)
	c, err := eventstore.ParseImageJSON(image)
	fmt.Println(c.AggregateID, c.Version, c.Events[0].Type, string(c.Events[0].Data), err)

	_, err = eventstore.ParseImageJSON(nil) // a REMOVE record has no new image
	fmt.Println(errors.Is(err, eventstore.ErrNotCommit))
	// Output:
	// order#1 0 orderPlaced {"qty":2} <nil>
	// true
}

func ExampleEvents() {
	ctx := context.Background()
	store := featureStore("history", eventstore.Config{})
	store.Append(ctx, eventstore.Commit{AggregateID: "order#1", Version: 0,
		Events: []eventstore.Event{{Type: "SENT", Data: json.RawMessage(`{"text":"EVENT PAYLOAD","sequence":1}`)}}})
	store.Append(ctx, eventstore.Commit{AggregateID: "order#1", Version: 1,
		Events: []eventstore.Event{{Type: "PLACED", Data: json.RawMessage(`{"eventType":"PLACED","sequence":2}`)}}})

	// aws-event-stream's getEvents.
	for e, err := range eventstore.Events(store.Query(ctx, "order#1", 0)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Version, e.Type, string(e.Data))
	}
	// Output:
	// 0 SENT {"text":"EVENT PAYLOAD","sequence":1}
	// 1 PLACED {"eventType":"PLACED","sequence":2}
}

func ExampleFold() {
	ctx := context.Background()
	store := featureStore("fold", eventstore.Config{})
	store.AppendNext(ctx, eventstore.Commit{AggregateID: "account#1",
		Events: []eventstore.Event{{Type: "deposited", Data: json.RawMessage(`{"amount":50}`)}}})
	store.AppendNext(ctx, eventstore.Commit{AggregateID: "account#1",
		Events: []eventstore.Event{{Type: "withdrawn", Data: json.RawMessage(`{"amount":20}`)}}})

	balance, err := eventstore.Fold(store.Query(ctx, "account#1", 0), 0, func(balance int, e eventstore.EventView) (int, error) {
		var d struct{ Amount int }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return balance, err
		}
		if e.Type == "withdrawn" {
			d.Amount = -d.Amount
		}
		return balance + d.Amount, nil
	})
	fmt.Println(balance, err)
	// Output:
	// 30 <nil>
}

// slogObserver logs every write to a slog.Logger, and reads at debug
// level. A metrics observer would add ob.ReadUnits and ob.WriteUnits to
// counters, and ob.ScanLag to a gauge.
type slogObserver struct{ log *slog.Logger }

func (o slogObserver) Observe(ctx context.Context, ob eventstore.Observation) {
	level := slog.LevelInfo
	switch {
	case ob.Err != nil:
		level = slog.LevelWarn
	case ob.Op == eventstore.OpQuery || ob.Op == eventstore.OpScan:
		level = slog.LevelDebug
	}
	o.log.Log(ctx, level, "eventstore", "op", ob.Op, "requests", ob.Requests, "retries", ob.Retries,
		"commits", ob.Commits, "conflicts", ob.Conflicts, "duplicates", ob.Duplicates, "err", ob.Err)
}

func ExampleObserver() {
	ctx := context.Background()
	client, table := exampleTable("observer")
	plain, _ := eventstore.New(client, eventstore.Config{Table: table})
	if err := plain.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}

	// Log to stdout without the time, so that the output is stable.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	store, err := eventstore.New(client, eventstore.Config{Table: table, Observer: slogObserver{logger}})
	if err != nil {
		log.Fatal(err)
	}
	c, _ := store.Append(ctx, eventstore.Commit{AggregateID: "a", Events: []eventstore.Event{{Type: "created"}}})
	store.Append(ctx, c) // a retry: recognised, nothing written
	store.AppendAll(ctx,
		eventstore.Commit{AggregateID: "a", Version: 1, Events: []eventstore.Event{{Type: "linked"}}},
		eventstore.Commit{AggregateID: "b", Events: []eventstore.Event{{Type: "linked"}}})
	// Output:
	// level=INFO msg=eventstore op=Append requests=2 retries=0 commits=1 conflicts=0 duplicates=0 err=<nil>
	// level=INFO msg=eventstore op=Append requests=1 retries=0 commits=1 conflicts=0 duplicates=1 err=<nil>
	// level=INFO msg=eventstore op=AppendAll requests=1 retries=0 commits=2 conflicts=0 duplicates=0 err=<nil>
}
