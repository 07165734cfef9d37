package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// livePace is the pause of each latency benchmark writer between two
// appends, ±50%: 1 writer offers about 20 commits/s, 16 about 300.
const livePace = 50 * time.Millisecond

// liveWriterCounts are the writer counts of the latency benchmarks.
var liveWriterCounts = []int{1, 16}

// pacedWriters starts n writers that append one commit per token, each to
// the next version of its own aggregate, recording when each Append
// returned; wait waits for them once tokens is closed.
func pacedWriters(b *testing.B, store *eventstore.Store, n int, tokens <-chan struct{}, lat *Latencies) (wait func()) {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			agg := fmt.Sprint("writer#", w)
			v := int64(0)
			for range tokens {
				c, err := store.Append(context.Background(), eventstore.Commit{AggregateID: agg, Version: v,
					Events: []eventstore.Event{{Type: "paced", Data: json.RawMessage(`{"w":1}`)}}})
				if err != nil {
					b.Error(err)
					continue
				}
				lat.Sent(c.CommitID, time.Now())
				v++
				time.Sleep(livePace/2 + time.Duration(r.Int64N(int64(livePace))))
			}
		})
	}
	return wg.Wait
}

// drive hands out one token per benchmark iteration, then waits for the
// writers and for every commit to arrive (up to 30 s).
func drive(b *testing.B, writers int, store *eventstore.Store, lat *Latencies) {
	tokens := make(chan struct{})
	wait := pacedWriters(b, store, writers, tokens, lat)
	for b.Loop() {
		tokens <- struct{}{}
	}
	close(tokens)
	wait()
	deadline := time.Now().Add(30 * time.Second)
	for lat.Missing() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := lat.Missing(); n > 0 {
		b.Errorf("%d commits did not arrive within 30 s", n)
	}
}

// BenchmarkLiveTail measures the latency from Append's return to a live
// Tail's yield (eventstore.Live, default settings: 10 s settle window, 4
// shards), with 1 and 16 paced writers, as p50-ms, p99-ms and max-ms. It
// also reports the Tail's cost: queries per second per shard and read
// units per commit. Each iteration is one commit.
func BenchmarkLiveTail(b *testing.B) {
	warmUp(b)
	for _, writers := range liveWriterCounts {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			client := dynamotest.Client(b)
			table := dynamotest.TableName(b, client)
			store, _ := newMeteredStore(b, eventstore.Config{Table: table})
			meter := NewMeter(client)
			reader, err := eventstore.New(meter, eventstore.Config{Table: table})
			if err != nil {
				b.Fatal(err)
			}
			lat := NewLatencies()
			ctx, cancel := context.WithCancel(context.Background())
			caughtUp := make(chan struct{})
			ended := make(chan error, 1)
			go func() {
				defer close(ended)
				for c, err := range reader.Tail(ctx, "", eventstore.Live(), eventstore.OnCaughtUp(func() { close(caughtUp) })) {
					if err != nil {
						ended <- err
						return
					}
					lat.Arrived(c.CommitID, time.Now())
				}
			}()
			<-caughtUp
			meter.Reset()
			start := time.Now()
			drive(b, writers, store, lat)
			elapsed := time.Since(start)
			cancel()
			if err := <-ended; err != nil {
				b.Fatal(err)
			}
			lat.Report(b)
			u := meter.Usage()
			b.ReportMetric(float64(u.Requests)/elapsed.Seconds()/eventstore.DefaultScanShards, "queries/s/shard")
			b.ReportMetric(u.RCU/float64(b.N), "RCU/commit")
			if n := lat.Repeated(); n > 0 {
				b.Errorf("%d commits yielded twice", n)
			}
		})
	}
}

// BenchmarkLiveRelay measures the latency from Append's return to the
// receipt of its message from an SQS queue subscribed to the relay's SNS
// topic (fauxqs), default settings, with 1 and 16 paced writers, as
// p50-ms, p99-ms and max-ms. The queue is read with 1 s long polls.
func BenchmarkLiveRelay(b *testing.B) {
	warmUp(b)
	for _, writers := range liveWriterCounts {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			client := dynamotest.Client(b)
			table := dynamotest.TableName(b, client)
			store, _ := newMeteredStore(b, eventstore.Config{Table: table})
			topic := snstest.Topic(b, false)
			queue := snstest.NewQueue(b, topic, snstest.QueueOptions{})
			sns, err := notifier.NewSNS(snstest.SNSClient(b), notifier.SNSConfig{TopicARN: topic})
			if err != nil {
				b.Fatal(err)
			}
			relay, err := notifier.NewRelay(notifier.RelayConfig{Store: store, Notifier: sns, DynamoDB: client,
				Table: table, Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			lat := NewLatencies()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = relay.Run(ctx) })
			wg.Go(func() { receive(ctx, b, snstest.SQSClient(b), queue.URL, lat) })
			// The relay is running once a first commit arrives.
			first, err := store.Append(ctx, eventstore.Commit{AggregateID: "first", Version: 0,
				Events: []eventstore.Event{{Type: "first"}}})
			if err != nil {
				b.Fatal(err)
			}
			for !lat.has(first.CommitID) {
				time.Sleep(10 * time.Millisecond)
			}
			drive(b, writers, store, lat)
			cancel()
			wg.Wait()
			lat.Report(b)
		})
	}
}

// receive reads the queue with long polls until ctx ends, recording when
// each commit's message arrived.
func receive(ctx context.Context, b *testing.B, client *sqs.Client, url string, lat *Latencies) {
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			if ctx.Err() == nil {
				b.Error(err)
			}
			return
		}
		now := time.Now()
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			if a, ok := m.MessageAttributes[notifier.AttrCommitID]; ok {
				lat.Arrived(aws.ToString(a.StringValue), now)
			}
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			_, _ = client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: del})
		}
	}
}
