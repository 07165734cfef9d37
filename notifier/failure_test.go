package notifier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// snsFaults answers the first fail requests with an SNS error (code
// "InternalError" with status 500, or "Throttled" with 429) without sending
// them, and passes the others on. It counts every request.
type snsFaults struct {
	code      string
	fail      atomic.Int64
	requests  atomic.Int64
	onRequest func(n int64) // if set, called with each request's number
}

func (f *snsFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	if n := f.requests.Add(1); f.onRequest != nil {
		f.onRequest(n)
	}
	if f.fail.Add(-1) < 0 {
		return http.DefaultTransport.RoundTrip(req)
	}
	status := http.StatusInternalServerError
	if f.code == "Throttled" {
		status = http.StatusTooManyRequests
	}
	body := fmt.Sprintf(`<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`+
		`<Code>%s</Code><Message>injected</Message></Error><RequestId>injected</RequestId></ErrorResponse>`, f.code)
	return &http.Response{
		Status: http.StatusText(status), StatusCode: status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/xml"}, "X-Amzn-Requestid": {"injected"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body)), Request: req,
	}, nil
}

// noSDKRetries leaves the retries to the notifier's own backoff.
func noSDKRetries(o *sns.Options) { o.RetryMaxAttempts = 1 }

func withTransport(rt http.RoundTripper) func(*sns.Options) {
	return func(o *sns.Options) { o.HTTPClient = &http.Client{Transport: rt} }
}

// TestNotifyRetriesTransientErrors: 5xx and throttling answers are retried
// by the notifier's backoff until the publish goes through, once.
func TestNotifyRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"InternalError", "Throttled"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			topic := snstest.Topic(t, false)
			queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
			faults := &snsFaults{code: code}
			faults.fail.Store(3)
			store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{RetryFor: time.Minute}, noSDKRetries, withTransport(faults)))
			c := mustAppend(t, store, commit("a", 0))
			if n := faults.requests.Load(); n != 4 {
				t.Errorf("%d publish requests, want 3 failed and 1 sent", n)
			}
			got := decodeAll(t, queue.Receive(t, 2, time.Second))
			if len(got) != 1 || got[0].CommitID != c.CommitID {
				t.Fatalf("received %v, want commit %s once", countByCommit(got), c.CommitID)
			}
		})
	}
}

// TestNotifyErrorOnPermanentFailure: a topic that does not exist is not
// retried; Append reports a NotifyError and the commit is stored.
func TestNotifyErrorOnPermanentFailure(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false) + "-missing"
	faults := &snsFaults{}
	store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{RetryFor: time.Minute}, withTransport(faults)))
	start := time.Now()
	c, err := appendNew(t, store, commit("a", 0))
	var notifyErr *eventstore.NotifyError
	if !errors.As(err, &notifyErr) || notifyErr.Commit.CommitID != c.CommitID || c.CommitID == "" {
		t.Fatalf("Append = %+v, %v; want a NotifyError for the returned commit", c, err)
	}
	if n := faults.requests.Load(); n != 1 || time.Since(start) > 10*time.Second {
		t.Errorf("%d requests in %v; want 1, without retries", n, time.Since(start))
	}
	checkStored(t, store, c)
}

// TestNotifyGivesUp: a notifier whose topic always fails gives up after
// RetryFor, or as soon as ctx ends.
func TestNotifyGivesUp(t *testing.T) {
	t.Parallel()
	faults := &snsFaults{code: "InternalError"}
	faults.fail.Store(1 << 40)
	n := newSNS(t, "arn:aws:sns:us-east-1:000000000000:never", notifier.SNSConfig{RetryFor: 500 * time.Millisecond},
		noSDKRetries, withTransport(faults))
	c := commit("a", 0)
	c.CommitID, c.CommittedAt = "01JD5Q6X1Z8W3V4T2S9R7P6N5M", time.Now()

	start := time.Now()
	err := n.Notify(ctxT(t), c)
	if elapsed := time.Since(start); err == nil || elapsed < 200*time.Millisecond || elapsed > 3*time.Second || faults.requests.Load() < 3 {
		t.Fatalf("Notify = %v after %v and %d requests; want an error after about 500ms of retries",
			err, elapsed, faults.requests.Load())
	}

	// The caller gives up during the third attempt.
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	faults = &snsFaults{code: "InternalError", onRequest: func(n int64) {
		if n == 3 {
			cancel()
		}
	}}
	faults.fail.Store(1 << 40)
	n = newSNS(t, "arn:aws:sns:us-east-1:000000000000:never", notifier.SNSConfig{RetryFor: time.Hour},
		noSDKRetries, withTransport(faults))
	start = time.Now()
	err = n.Notify(ctx, c)
	if !errors.Is(err, context.Canceled) || faults.requests.Load() != 3 || time.Since(start) > 5*time.Second {
		t.Fatalf("Notify cancelled in attempt 3 = %v after %d requests, %v; want Canceled at once",
			err, faults.requests.Load(), time.Since(start))
	}
	var api interface{ ErrorCode() string }
	if !errors.As(err, &api) || api.ErrorCode() != "InternalError" {
		t.Errorf("error %v does not carry the last SNS error", err)
	}
}

// checkStored fails the test unless c is stored at its version.
func checkStored(tb testing.TB, store *eventstore.Store, c eventstore.Commit) {
	tb.Helper()
	for got, err := range store.Query(ctxT(tb), c.AggregateID, c.Version) {
		if err != nil {
			tb.Fatal(err)
		}
		if got.CommitID != c.CommitID {
			tb.Fatalf("%s v%d holds commit %s, want %s", c.AggregateID, c.Version, got.CommitID, c.CommitID)
		}
		return
	}
	tb.Fatalf("%s v%d is not stored", c.AggregateID, c.Version)
}

// closedPort returns the URL of a 127.0.0.1 port nobody listens on.
func closedPort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// TestSNSUnreachable: with SNS down, 100 appends are all stored and all
// report a NotifyError; retrying each Append once SNS is back publishes
// it; and a relay started afterwards delivers all 100 again.
func TestSNSUnreachable(t *testing.T) {
	t.Parallel()
	const n = 100
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	down, err := notifier.NewSNS(snstest.NewSNSClient(closedPort(t), noSDKRetries), notifier.SNSConfig{
		TopicARN: topic, RetryFor: 30 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	store, client, table := newStore(t, down)
	var returned []eventstore.Commit
	for i := range n {
		c, err := appendNew(t, store, commit(fmt.Sprint("agg", i%7), int64(i/7)))
		var notifyErr *eventstore.NotifyError
		if !errors.As(err, &notifyErr) || notifyErr.Commit.CommitID != c.CommitID {
			t.Fatalf("Append %d with SNS down = %v; want a NotifyError", i, err)
		}
		returned = append(returned, c)
	}
	for _, c := range returned {
		checkStored(t, store, c)
	}
	if got := queue.Receive(t, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d messages arrived while SNS was down", len(got))
	}

	// SNS is back: the same store's table, with a notifier that reaches it.
	up, err := eventstore.New(client, eventstore.Config{Table: table, Notifier: newSNS(t, topic, notifier.SNSConfig{}),
		MaxCommitLatency: testMaxLatency, Settle: testSettle})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range returned {
		again, err := up.Append(ctxT(t), c)
		if err != nil || again.CommitID != c.CommitID {
			t.Fatalf("retried Append of %s = %s, %v; want success", c.CommitID, again.CommitID, err)
		}
	}
	checkAll(t, "retried appends", queue.Receive(t, n, 5*time.Second), returned)

	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: newSNS(t, topic, notifier.SNSConfig{}),
		DynamoDB: client, Table: table, Name: "after-outage"})
	checkAll(t, "relay", queue.Receive(t, n, 10*time.Second), returned)
	relay.stop(t)
}

// checkAll fails the test unless msgs hold each of want exactly once.
func checkAll(tb testing.TB, what string, msgs []snstest.Message, want []eventstore.Commit) {
	tb.Helper()
	counts := countByCommit(decodeAll(tb, msgs))
	for _, c := range want {
		if counts[c.CommitID] != 1 {
			tb.Fatalf("%s: commit %s (%s v%d) arrived %d times, want once (%d messages for %d commits)",
				what, c.CommitID, c.AggregateID, c.Version, counts[c.CommitID], len(msgs), len(want))
		}
	}
	if len(msgs) != len(want) {
		tb.Fatalf("%s: %d messages, want %d", what, len(msgs), len(want))
	}
}

// TestFIFOOrderAndDedup appends to 4 aggregates concurrently with a FIFO
// notifier, then retries some appends: the FIFO queue receives each commit
// once, each aggregate in order, grouped by aggregate, deduplicated by
// aggregate and version.
func TestFIFOOrderAndDedup(t *testing.T) {
	t.Parallel()
	const aggregates, versions = 4, 8
	topic := snstest.Topic(t, true)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{}))
	var mu sync.Mutex
	var all []eventstore.Commit
	var wg sync.WaitGroup
	for a := range aggregates {
		wg.Go(func() {
			for v := range versions {
				c, err := appendNew(t, store, commit(fmt.Sprintf("order #%d", a), int64(v))) // a space: hashed group
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				all = append(all, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, c := range all[:5] { // retried appends publish again
		if _, err := store.Append(ctxT(t), c); err != nil {
			t.Fatal(err)
		}
	}
	msgs := queue.Receive(t, len(all)+5, 2*time.Second)
	checkAll(t, "FIFO queue", msgs, all)
	envs := decodeAll(t, msgs)
	checkPerAggregateOrder(t, "FIFO queue", envs, false)
	for i, m := range msgs {
		if m.GroupID != notifier.GroupID(envs[i].AggregateID) || m.DedupID != notifier.DeduplicationID(envs[i].AggregateID, envs[i].Version) {
			t.Fatalf("message of %s: group %q, dedup id %q", envs[i].CommitID, m.GroupID, m.DedupID)
		}
	}
}

// TestRetriedAppendNotifiesAgain: on a standard topic, retrying an Append
// publishes the commit a second time.
func TestRetriedAppendNotifiesAgain(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{}))
	c := mustAppend(t, store, commit("a", 0))
	if again := mustAppend(t, store, c); again.CommitID != c.CommitID {
		t.Fatalf("retry returned commit %s, want %s", again.CommitID, c.CommitID)
	}
	got := countByCommit(decodeAll(t, queue.Receive(t, 3, time.Second)))
	if got[c.CommitID] != 2 || len(got) != 1 {
		t.Fatalf("received %v, want commit %s twice", got, c.CommitID)
	}
}

// TestOversizedCommitMarker: a commit too large for SNS is announced by a
// marker without events; Append does not fail, and the subscriber loads the
// commit with Envelope.Load.
func TestOversizedCommitMarker(t *testing.T) {
	t.Parallel()
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprint("fifo=", fifo), func(t *testing.T) {
			t.Parallel()
			topic := snstest.Topic(t, fifo)
			queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
			store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{}))
			big := randomJSONString(300 * 1024) // 300 KB of random text: about 225 KB stored, compressed
			c := mustAppend(t, store, commit("big", 0, eventstore.Event{Type: "uploaded", Data: big}, event("noted", 1)))
			msgs := queue.Receive(t, 1, 5*time.Second)
			if len(msgs) != 1 {
				t.Fatalf("received %d messages, want 1", len(msgs))
			}
			if len(msgs[0].Body) > 1024 || msgs[0].Attributes[notifier.AttrEventsOmitted] != "true" ||
				msgs[0].Attributes[notifier.AttrEventTypes] != `["uploaded","noted"]` {
				t.Fatalf("marker: body of %d bytes, attributes %v", len(msgs[0].Body), msgs[0].Attributes)
			}
			env := decodeAll(t, msgs)[0]
			if !env.EventsOmitted || env.Events != nil || env.CommitID != c.CommitID {
				t.Fatalf("marker envelope %+v", env)
			}
			loaded, err := env.Load(ctxT(t), store)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalize(c), normalize(loaded)); diff != "" {
				t.Fatalf("loaded commit differs (-want +got):\n%s", diff)
			}
			other := env
			other.CommitID = "01JD5Q6X1Z8W3V4T2S9R7P6N5M" // not the commit stored there
			if _, err := other.Load(ctxT(t), store); err == nil {
				t.Fatal("Load of an envelope whose commit is not stored succeeded")
			}
		})
	}
}

func randomJSONString(n int) json.RawMessage {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[b[i]%64]
	}
	return json.RawMessage(`"` + string(b) + `"`)
}
