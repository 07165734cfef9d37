package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/dynacommit/eventstore"
)

func ExampleUpcaster() {
	ctx := context.Background()
	client, table := exampleTable("upcast")
	old, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		log.Fatal(err)
	}
	if err := old.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	// Version 1 of "accountOpened" had a "name"; the writer tags the
	// schema version in the event's metadata ("v" by default).
	v1 := eventstore.Event{Type: "accountOpened", Data: json.RawMessage(`{"name":"Ada"}`), Metadata: map[string]string{"v": "1"}}
	stored, err := old.Append(ctx, eventstore.Commit{AggregateID: "account#1", Events: []eventstore.Event{v1}})
	if err != nil {
		log.Fatal(err)
	}

	// Today's readers register how v1 becomes v2 (name -> holder) and v2
	// becomes v3 (a currency, EUR for the old accounts).
	edit := func(change func(map[string]any)) func(eventstore.Event) (eventstore.Event, error) {
		return func(e eventstore.Event) (eventstore.Event, error) {
			var m map[string]any
			if err := json.Unmarshal(e.Data, &m); err != nil {
				return e, err
			}
			change(m)
			e.Data, err = json.Marshal(m)
			return e, err
		}
	}
	store, err := eventstore.New(client, eventstore.Config{Table: table, Upcasters: []eventstore.Upcaster{
		{Type: "accountOpened", Version: "1", ToVersion: "2", Upcast: edit(func(m map[string]any) { m["holder"] = m["name"]; delete(m, "name") })},
		{Type: "accountOpened", Version: "2", ToVersion: "3", Upcast: edit(func(m map[string]any) { m["currency"] = "EUR" })},
	}})
	if err != nil {
		log.Fatal(err)
	}
	for c, err := range store.Query(ctx, "account#1", 0) {
		if err != nil {
			log.Fatal(err)
		}
		e := c.Events[0]
		fmt.Println(e.Type, e.Metadata["v"], string(e.Data))
	}
	// What is stored never changes: the old commit, retried, is already stored.
	_, err = store.Append(ctx, stored)
	fmt.Println(err)
	// Output:
	// accountOpened 3 {"currency":"EUR","holder":"Ada"}
	// <nil>
}
