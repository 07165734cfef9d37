// Package snstest gives tests an SNS and SQS to talk to: the fauxqs
// emulator, started once per test binary on a free port of 127.0.0.1, or the
// server at SNS_ENDPOINT when that is set (it must serve SQS as well, as
// fauxqs and LocalStack do). Topic and Queue hand each test a fresh topic
// and a queue subscribed to it, deleted at cleanup; Queue.Receive reads
// what arrived.
//
// fauxqs is found at FAUXQS_CLI (its dist/cli.js), or else in a
// .tools/node_modules/fauxqs folder of the working directory or one of its
// parents (scripts/install-tools.sh puts it there); it runs on node.
// Without a server and without fauxqs, tests skip, except when the CI
// environment variable is set: then they fail, so a green CI run never
// hides a skipped test.
//
// Call Main (or Stop) from TestMain to stop the server when the tests end;
// without it, the server is killed when the test process exits (Linux) or
// lingers.
package snstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dynacommit/eventstore/internal/localserver"
)

// server is the one fauxqs of this test binary.
var server = &localserver.Server{
	Name:        "SNS emulator (fauxqs)",
	EndpointEnv: "SNS_ENDPOINT",
	Command:     command,
	Ready:       health,
	Limit:       30 * time.Second,
}

// Main runs the tests and then stops the fauxqs this binary started.
// Use it as: func TestMain(m *testing.M) { os.Exit(snstest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the fauxqs this process started, if any.
func Stop() { server.Stop() }

// Start returns the URL of the test SNS and SQS: SNS_ENDPOINT, or a fauxqs
// it starts on first use (later calls return the same one). Tests call
// Endpoint instead; Start serves Example functions and programs.
func Start() (string, error) { return server.Start() }

// Endpoint returns the URL of the test SNS and SQS, starting fauxqs on
// first use. Without one it skips tb, or fails it when CI is set.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
}

func awsConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
}

// NewSNSClient returns an SNS client of the server at endpoint with static
// credentials.
func NewSNSClient(endpoint string, optFns ...func(*sns.Options)) *sns.Client {
	return sns.NewFromConfig(awsConfig(), append([]func(*sns.Options){func(o *sns.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)...)
}

// NewSQSClient returns an SQS client of the server at endpoint with static
// credentials.
func NewSQSClient(endpoint string, optFns ...func(*sqs.Options)) *sqs.Client {
	return sqs.NewFromConfig(awsConfig(), append([]func(*sqs.Options){func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, optFns...)...)
}

// SNSClient returns an SNS client of the test server.
func SNSClient(tb testing.TB, optFns ...func(*sns.Options)) *sns.Client {
	tb.Helper()
	return NewSNSClient(Endpoint(tb), optFns...)
}

// SQSClient returns an SQS client of the test server.
func SQSClient(tb testing.TB, optFns ...func(*sqs.Options)) *sqs.Client {
	tb.Helper()
	return NewSQSClient(Endpoint(tb), optFns...)
}

// Name returns a topic or queue name unique to this call, derived from the
// test's name (at most 80 characters, as SQS requires, ".fifo" included).
func Name(tb testing.TB, fifo bool) string {
	tb.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	base := regexp.MustCompile(`[^a-zA-Z0-9_-]+`).ReplaceAllString(tb.Name(), "-")
	name := fmt.Sprintf("%.60s-%s", base, hex.EncodeToString(suffix))
	if fifo {
		name += ".fifo"
	}
	return name
}

// Topic creates a topic (a FIFO topic if fifo), deleted at cleanup, and
// returns its ARN.
func Topic(tb testing.TB, fifo bool) string {
	tb.Helper()
	client := SNSClient(tb)
	in := &sns.CreateTopicInput{Name: aws.String(Name(tb, fifo))}
	if fifo {
		in.Attributes = map[string]string{"FifoTopic": "true"}
	}
	out, err := client.CreateTopic(ctxFor(tb), in)
	if err != nil {
		tb.Fatalf("snstest: create topic: %v", err)
	}
	arn := aws.ToString(out.TopicArn)
	tb.Cleanup(func() {
		client.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: aws.String(arn)})
	})
	return arn
}

// QueueOptions changes how Queue subscribes.
type QueueOptions struct {
	// Wrapped delivers the SNS notification JSON that wraps each message,
	// instead of the raw message (RawMessageDelivery, the default).
	Wrapped bool
	// FilterPolicy, if set, is the subscription's filter policy (JSON), on
	// message attributes.
	FilterPolicy string
}

// Queue is an SQS queue subscribed to a topic.
type Queue struct {
	URL, ARN string
	client   *sqs.Client
}

// Message is a message received from a Queue.
type Message struct {
	Body string
	// Attributes are the message attributes (raw delivery only), by name:
	// their string values and their data types.
	Attributes     map[string]string
	AttributeTypes map[string]string
	// GroupID and DedupID are the MessageGroupId and MessageDeduplicationId
	// of a message from a FIFO queue.
	GroupID, DedupID string
}

// NewQueue creates a queue (a FIFO queue if the topic is one), subscribes it
// to topicARN, and deletes both at cleanup.
func NewQueue(tb testing.TB, topicARN string, opts QueueOptions) *Queue {
	tb.Helper()
	ctx := ctxFor(tb)
	fifo := strings.HasSuffix(topicARN, ".fifo")
	client := SQSClient(tb)
	in := &sqs.CreateQueueInput{QueueName: aws.String(Name(tb, fifo))}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := client.CreateQueue(ctx, in)
	if err != nil {
		tb.Fatalf("snstest: create queue: %v", err)
	}
	q := &Queue{URL: aws.ToString(out.QueueUrl), client: client}
	tb.Cleanup(func() {
		client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
	})
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.URL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		tb.Fatalf("snstest: queue attributes: %v", err)
	}
	q.ARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	sub := map[string]string{"RawMessageDelivery": fmt.Sprint(!opts.Wrapped)}
	if opts.FilterPolicy != "" {
		sub["FilterPolicy"] = opts.FilterPolicy
	}
	_, err = SNSClient(tb).Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"), Endpoint: aws.String(q.ARN),
		Attributes: sub, ReturnSubscriptionArn: true,
	})
	if err != nil {
		tb.Fatalf("snstest: subscribe: %v", err)
	}
	return q
}

// Receive returns the messages that arrive until n have, or until nothing
// has arrived for quiet, in the order the queue hands them out, deleting
// them from the queue. It fails tb on an error.
func (q *Queue) Receive(tb testing.TB, n int, quiet time.Duration) []Message {
	tb.Helper()
	var got []Message
	last := time.Now()
	for len(got) < n && time.Since(last) < quiet {
		batch, err := q.receive(ctxFor(tb))
		if err != nil {
			tb.Fatalf("snstest: receive: %v", err)
		}
		if len(batch) > 0 {
			last = time.Now()
		}
		got = append(got, batch...)
	}
	return got
}

// receive reads up to 10 messages, waiting up to 100 ms, and deletes them.
func (q *Queue) receive(ctx context.Context) ([]Message, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.URL),
		MaxNumberOfMessages:         10,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	if len(out.Messages) == 0 {
		time.Sleep(100 * time.Millisecond)
		return nil, nil
	}
	got := make([]Message, len(out.Messages))
	del := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
	for i, m := range out.Messages {
		got[i] = Message{
			Body:           aws.ToString(m.Body),
			Attributes:     map[string]string{},
			AttributeTypes: map[string]string{},
			GroupID:        m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)],
			DedupID:        m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageDeduplicationId)],
		}
		for name, v := range m.MessageAttributes {
			got[i].Attributes[name] = aws.ToString(v.StringValue)
			got[i].AttributeTypes[name] = aws.ToString(v.DataType)
		}
		del[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle}
	}
	if _, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: del}); err != nil {
		return nil, err
	}
	return got, nil
}

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// command runs fauxqs on port, from FAUXQS_CLI or a .tools folder of the
// working directory or a parent.
func command(port string) (*exec.Cmd, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, errors.New("node not found on PATH (fauxqs runs on Node 20)")
	}
	cli := os.Getenv("FAUXQS_CLI")
	if cli == "" {
		var err error
		if cli, err = localserver.FindTool("node_modules/fauxqs/dist/cli.js"); err != nil {
			return nil, fmt.Errorf("%w (or set SNS_ENDPOINT or FAUXQS_CLI)", err)
		}
	}
	cmd := exec.Command("node", cli)
	cmd.Env = append(os.Environ(), "FAUXQS_PORT="+port, "FAUXQS_LOGGER=false")
	return cmd, nil
}

// health asks fauxqs's /health: nil once it answers 200.
func health(endpoint string) error {
	resp, err := http.Get(endpoint + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health: %s", resp.Status)
	}
	return nil
}
