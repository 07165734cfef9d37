package notifier_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

// A subscriber decodes what arrives from its queue.
func ExampleDecode() {
	body := `{"schema":"eventstore.commit.v1","aggregateId":"account#42","version":3,` +
		`"commitId":"01JD5Q6X1Z8W3V4T2S9R7P6N5M","committedAt":"2024-11-23T15:04:05.123Z",` +
		`"events":[{"type":"deposited","data":{"amount":10}}]}`
	env, err := notifier.Decode([]byte(body))
	if err != nil {
		log.Fatal(err)
	}
	c := env.Commit()
	fmt.Println(c.AggregateID, c.Version, c.CommitID)
	for _, e := range c.Events {
		fmt.Println(e.Type, string(e.Data))
	}
	// Output:
	// account#42 3 01JD5Q6X1Z8W3V4T2S9R7P6N5M
	// deposited {"amount":10}
}

func ExampleGroupID() {
	fmt.Println(notifier.GroupID("account#42"))
	fmt.Println(notifier.GroupID("a name with spaces"))
	// Output:
	// account#42
	// sha256:43998174df22ca59f03f9a084c8dcef22368d044cf206acc8e7e4d6c17655e1f
}

// Append writes, then publishes; a NotifyError means the commit is stored.
func ExampleSNS() {
	ctx := context.Background()
	var snsClient *sns.Client // sns.NewFromConfig(awsCfg)
	var ddb *dynamodb.Client  // dynamodb.NewFromConfig(awsCfg)
	n, err := notifier.NewSNS(snsClient, notifier.SNSConfig{TopicARN: "arn:aws:sns:eu-west-1:123456789012:accounts.fifo"})
	if err != nil {
		log.Fatal(err)
	}
	store, err := eventstore.New(ddb, eventstore.Config{Table: "events", Notifier: n})
	if err != nil {
		log.Fatal(err)
	}
	c, err := store.Append(ctx, eventstore.Commit{AggregateID: "account#42", Version: 0,
		Events: []eventstore.Event{{Type: "accountCreated"}}})
	var notifyErr *eventstore.NotifyError
	if errors.As(err, &notifyErr) {
		// Stored, not announced: retry the same commit later, or rely on a Relay.
		_, err = store.Append(ctx, c)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// A relay publishes every commit at least once; run it in one or more
// processes with the same Name.
func ExampleRelay() {
	ctx := context.Background()
	var snsClient *sns.Client
	var ddb *dynamodb.Client
	store, err := eventstore.New(ddb, eventstore.Config{Table: "events"}) // no Notifier: Append only writes
	if err != nil {
		log.Fatal(err)
	}
	n, err := notifier.NewSNS(snsClient, notifier.SNSConfig{TopicARN: "arn:aws:sns:eu-west-1:123456789012:accounts.fifo"})
	if err != nil {
		log.Fatal(err)
	}
	relay, err := notifier.NewRelay(notifier.RelayConfig{
		Store: store, Notifier: n, DynamoDB: ddb, Table: "events", Name: "accounts-topic",
		OnError: func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(relay.Run(ctx)) // until ctx ends
}
