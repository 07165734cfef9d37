package notifier_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// benchCommit is a commit of 2 events, about 300 bytes of envelope.
func benchCommit(i int) eventstore.Commit {
	c := commit(fmt.Sprint("bench#", i%50), int64(i/50), event("deposited", i), event("noted", i))
	c.CommitID, c.CommittedAt = "01JD5Q6X1Z8W3V4T2S9R7P6N5M", time.Now()
	c.Metadata = map[string]string{"correlationId": "bench"}
	return c
}

// BenchmarkNotify measures one Publish per commit (the latency Append adds),
// to a topic with one subscribed queue.
func BenchmarkNotify(b *testing.B) {
	for _, fifo := range []bool{false, true} {
		b.Run(fmt.Sprint("fifo=", fifo), func(b *testing.B) {
			topic := snstest.Topic(b, fifo)
			snstest.NewQueue(b, topic, snstest.QueueOptions{})
			n := newSNS(b, topic, notifier.SNSConfig{})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := n.Notify(ctx, benchCommit(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/commit")
		})
	}
}

// BenchmarkNotifyBatch measures PublishBatch of 10 commits, per commit.
func BenchmarkNotifyBatch(b *testing.B) {
	topic := snstest.Topic(b, false)
	snstest.NewQueue(b, topic, snstest.QueueOptions{})
	n := newSNS(b, topic, notifier.SNSConfig{})
	batch := make([]eventstore.Commit, 10)
	for i := range batch {
		batch[i] = benchCommit(i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := n.NotifyBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(10*b.N), "µs/commit")
}

// BenchmarkAppend compares Append alone with Append and publish.
func BenchmarkAppend(b *testing.B) {
	topic := snstest.Topic(b, false)
	snstest.NewQueue(b, topic, snstest.QueueOptions{})
	for _, withSNS := range []bool{false, true} {
		b.Run(fmt.Sprint("notify=", withSNS), func(b *testing.B) {
			var n eventstore.Notifier
			if withSNS {
				n = newSNS(b, topic, notifier.SNSConfig{})
			}
			store, _, _ := newStore(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := benchCommit(i)
				c.CommitID = ""
				if _, err := store.Append(ctx, c); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/commit")
		})
	}
}

// BenchmarkRelay measures how fast a relay publishes a backlog of 1,000
// settled commits (PublishBatch of 10, one checkpoint write per batch).
func BenchmarkRelay(b *testing.B) {
	const backlog = 1000
	topic := snstest.Topic(b, false)
	snstest.NewQueue(b, topic, snstest.QueueOptions{})
	store, client, table := newStore(b, nil)
	var last eventstore.Commit
	for i := range backlog {
		c := benchCommit(i)
		c.CommitID = ""
		last = mustAppend(b, store, c)
	}
	time.Sleep(testSettle)
	n := newSNS(b, topic, notifier.SNSConfig{})
	run := 0
	for b.Loop() {
		run++
		relay, err := notifier.NewRelay(notifier.RelayConfig{Store: store, Notifier: n, DynamoDB: client, Table: table,
			Name: fmt.Sprint("bench-", run)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- relay.Run(ctx) }()
		for {
			cp, err := relay.Checkpoint(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if cp == last.CommitID {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
	}
	b.ReportMetric(float64(backlog*b.N)/b.Elapsed().Seconds(), "commits/s")
}
