package limits_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

func Example() {
	// A simulator at 1/100 of DynamoDB: 10 WCU/s per partition key value,
	// with 1 s of burst. Its clock stands still here, so that the output
	// does not depend on the machine's speed; leave Now nil in real tests.
	start := time.Now()
	sim, err := limits.New(limits.Config{Scale: 0.01, Now: func() time.Time { return start }})
	if err != nil {
		log.Fatal(err)
	}
	endpoint, err := dynamotest.Start()
	if err != nil {
		log.Fatal(err)
	}
	// A client whose requests go through the simulator. Throttled requests
	// are retried by the SDK; this one does not retry, to show them.
	client := sim.NewClient(endpoint, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })

	ctx := context.Background()
	table := fmt.Sprintf("example-limits-%d", time.Now().UnixNano())
	store, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	var throttled int
	for v := range int64(20) { // 20 commits to one aggregate at once
		_, err := store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Version: v,
			Events: []eventstore.Event{{Type: "Deposited", Data: []byte(`{"amount":10}`)}}})
		if errors.As(err, new(*types.ProvisionedThroughputExceededException)) {
			throttled++
			break
		} else if err != nil {
			log.Fatal(err)
		}
	}
	// Each small commit is one 1 WCU PutItem: the 11th is throttled.
	fmt.Println("throttled:", throttled)
	st := sim.Stats()
	fmt.Println("units on account#1:", st.Keys[limits.Key{Table: table, Value: "account#1"}].WriteUnits)
	// Output:
	// throttled: 1
	// units on account#1: 10
}
