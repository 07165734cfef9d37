// Notify: announce commits through Amazon SNS to a subscriber's SQS queue,
// both ways the notifier package offers:
//
//  1. notifier.SNS as the store's Notifier: Append writes, then publishes.
//  2. notifier.Relay: Append only writes; the relay follows the global log
//     from a checkpoint in DynamoDB and publishes every commit.
//
// The topic is a FIFO topic, so the relay, which starts from the beginning
// of the log, republishes the commits of step 1 and SNS drops those
// duplicates: the subscriber sees each commit once, in order.
//
// Against local emulators (DynamoDB Local and fauxqs, started and stopped
// for the run):
//
//	examples/notify/run.sh
//
// or, with both already running:
//
//	DYNAMODB_ENDPOINT=http://127.0.0.1:8000 SNS_ENDPOINT=http://127.0.0.1:4566 go run ./examples/notify
//
// Without them it uses the standard AWS configuration, and creates (then
// deletes) a table, a FIFO topic and a FIFO queue in that account.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eps := endpoints{DynamoDB: os.Getenv("DYNAMODB_ENDPOINT"), SNS: os.Getenv("SNS_ENDPOINT")}
	if _, err := run(ctx, eps, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// endpoints of local emulators; empty means AWS.
type endpoints struct{ DynamoDB, SNS string }

// clients of the three services.
type clients struct {
	ddb *dynamodb.Client
	sns *sns.Client
	sqs *sqs.Client
}

// run performs the demo, printing to out, and returns the envelopes the
// subscriber received.
func run(ctx context.Context, eps endpoints, out io.Writer) ([]notifier.Envelope, error) {
	c, err := newClients(ctx, eps)
	if err != nil {
		return nil, err
	}
	suffix := randomSuffix()
	table := "eventstore-notify-" + suffix
	// Short windows so that the relay publishes within seconds; the
	// defaults (5 s writer deadline, 10 s settle window) suit production.
	// The settle window must cover the writers' deadline (recorded in the
	// table) plus eventstore.SettleAllowance.
	cfg := eventstore.Config{Table: table, MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance}
	plain, err := eventstore.New(c.ddb, cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "1. create table %s, FIFO topic and FIFO queue subscribed to it\n", table)
	if err := plain.CreateTable(ctx); err != nil {
		return nil, err
	}
	defer c.ddb.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	topic, queue, cleanup, err := c.topicAndQueue(ctx, "eventstore-notify-"+suffix)
	defer cleanup()
	if err != nil {
		return nil, err
	}

	publisher, err := notifier.NewSNS(c.sns, notifier.SNSConfig{TopicARN: topic})
	if err != nil {
		return nil, err
	}
	cfg.Notifier = publisher
	notifying, err := eventstore.New(c.ddb, cfg)
	if err != nil {
		return nil, err
	}
	account := "account#" + suffix
	fmt.Fprintln(out, "2. append with the SNS notifier: write, then publish")
	for v, e := range []eventstore.Event{
		{Type: "accountCreated", Data: json.RawMessage(`{"owner":"john"}`)},
		{Type: "deposited", Data: json.RawMessage(`{"amount":100}`)},
	} {
		if _, err := notifying.Append(ctx, eventstore.Commit{AggregateID: account, Version: int64(v), Events: []eventstore.Event{e}}); err != nil {
			return nil, err // a *eventstore.NotifyError would mean: stored, not published
		}
	}
	received, err := receive(ctx, c.sqs, queue, 2, out)
	if err != nil {
		return received, err
	}

	fmt.Fprintln(out, "3. append without a notifier, and run a relay from the beginning of the log")
	var last eventstore.Commit
	for v, e := range []eventstore.Event{
		{Type: "withdrawn", Data: json.RawMessage(`{"amount":30}`)},
		{Type: "accountClosed"},
	} {
		if last, err = plain.Append(ctx, eventstore.Commit{AggregateID: account, Version: int64(v + 2), Events: []eventstore.Event{e}}); err != nil {
			return received, err
		}
	}
	counter := &counting{SNS: publisher}
	relay, err := notifier.NewRelay(notifier.RelayConfig{
		Store: plain, Notifier: counter, DynamoDB: c.ddb, Table: table, Name: "notify-example",
		OnError: func(err error) { fmt.Fprintln(out, "   relay:", err) },
	})
	if err != nil {
		return received, err
	}
	relayCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(relayCtx) }()
	more, err := receive(ctx, c.sqs, queue, 2, out)
	received = append(received, more...)
	if err == nil {
		err = waitCheckpoint(ctx, relay, last.CommitID)
	}
	stop()
	<-done
	if err != nil {
		return received, err
	}
	fmt.Fprintf(out, "4. the relay published %d commits; the queue got the 2 new ones, as the FIFO topic dropped the 2 it had already delivered\n",
		counter.n.Load())
	if extra, err := receiveFor(ctx, c.sqs, queue, time.Second); err != nil || len(extra) > 0 {
		return received, fmt.Errorf("unexpected messages after the relay: %d, %v", len(extra), err)
	}
	return received, nil
}

// counting counts the commits an SNS notifier is asked to publish.
type counting struct {
	*notifier.SNS
	n atomic.Int64
}

func (c *counting) Notify(ctx context.Context, commit eventstore.Commit) error {
	c.n.Add(1)
	return c.SNS.Notify(ctx, commit)
}

func (c *counting) NotifyBatch(ctx context.Context, commits []eventstore.Commit) error {
	c.n.Add(int64(len(commits)))
	return c.SNS.NotifyBatch(ctx, commits)
}

// waitCheckpoint waits until the relay has recorded commitID.
func waitCheckpoint(ctx context.Context, relay *notifier.Relay, commitID string) error {
	for {
		cp, err := relay.Checkpoint(ctx)
		if err != nil || cp >= commitID {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// receive prints and returns n messages from the queue.
func receive(ctx context.Context, client *sqs.Client, queue string, n int, out io.Writer) ([]notifier.Envelope, error) {
	var got []notifier.Envelope
	for len(got) < n {
		envs, err := receiveFor(ctx, client, queue, 0)
		if err != nil {
			return got, err
		}
		for _, env := range envs {
			fmt.Fprintf(out, "   subscriber received %s v%d (commit %s):", env.AggregateID, env.Version, env.CommitID)
			for _, e := range env.Events {
				fmt.Fprintf(out, " %s", e.Type)
				if len(e.Data) > 0 {
					fmt.Fprintf(out, " %s", e.Data)
				}
			}
			fmt.Fprintln(out)
		}
		got = append(got, envs...)
	}
	return got, nil
}

// receiveFor long-polls the queue once (for wait, or 1 s when wait is 0),
// deletes what it received, and decodes it.
func receiveFor(ctx context.Context, client *sqs.Client, queue string, wait time.Duration) ([]notifier.Envelope, error) {
	if wait == 0 {
		wait = time.Second
	}
	resp, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: int32(wait / time.Second),
	})
	if err != nil {
		return nil, err
	}
	var envs []notifier.Envelope
	for _, m := range resp.Messages {
		env, err := notifier.Decode([]byte(aws.ToString(m.Body)))
		if err != nil {
			return envs, err
		}
		envs = append(envs, env)
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return envs, err
		}
	}
	return envs, nil
}

// topicAndQueue creates a FIFO topic and a FIFO queue subscribed to it with
// raw message delivery; cleanup deletes both.
func (c clients) topicAndQueue(ctx context.Context, name string) (topicARN, queueURL string, cleanup func(), err error) {
	var undo []func(context.Context)
	cleanup = func() {
		ctx := context.WithoutCancel(ctx)
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i](ctx)
		}
	}
	topic, err := c.sns.CreateTopic(ctx, &sns.CreateTopicInput{
		Name: aws.String(name + ".fifo"), Attributes: map[string]string{"FifoTopic": "true"},
	})
	if err != nil {
		return "", "", cleanup, err
	}
	topicARN = aws.ToString(topic.TopicArn)
	undo = append(undo, func(ctx context.Context) { c.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	queue, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name + ".fifo"), Attributes: map[string]string{"FifoQueue": "true"},
	})
	if err != nil {
		return "", "", cleanup, err
	}
	queueURL = aws.ToString(queue.QueueUrl)
	undo = append(undo, func(ctx context.Context) { c.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: queue.QueueUrl}) })
	attrs, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", cleanup, err
	}
	queueARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	// On AWS the queue must also allow the topic to send to it.
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},`+
		`"Action":"sqs:SendMessage","Resource":%q,"Condition":{"ArnEquals":{"aws:SourceArn":%q}}}]}`, queueARN, topicARN)
	if _, err := c.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: queue.QueueUrl, Attributes: map[string]string{"Policy": policy},
	}); err != nil {
		return "", "", cleanup, err
	}
	if _, err := c.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		return "", "", cleanup, err
	}
	return topicARN, queueURL, cleanup, nil
}

// newClients connects to the local endpoints with static credentials, or
// to AWS with the standard configuration.
func newClients(ctx context.Context, eps endpoints) (clients, error) {
	var opts []func(*config.LoadOptions) error
	if eps.DynamoDB != "" || eps.SNS != "" {
		opts = append(opts, config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return clients{}, err
	}
	return clients{
		ddb: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			if eps.DynamoDB != "" {
				o.BaseEndpoint = aws.String(eps.DynamoDB)
				o.DisableValidateResponseChecksum = true // DynamoDB Local sends CRC32 0 on some errors
			}
		}),
		sns: sns.NewFromConfig(cfg, func(o *sns.Options) {
			if eps.SNS != "" {
				o.BaseEndpoint = aws.String(eps.SNS)
			}
		}),
		sqs: sqs.NewFromConfig(cfg, func(o *sqs.Options) {
			if eps.SNS != "" {
				o.BaseEndpoint = aws.String(eps.SNS) // fauxqs serves SNS and SQS on one port
			}
		}),
	}, nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
