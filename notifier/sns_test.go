package notifier_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

func TestNewSNSRejectsMalformedTopicARN(t *testing.T) {
	t.Parallel()
	client := snstest.NewSNSClient("http://127.0.0.1:1")
	long := strings.Repeat("a", 257)
	for _, arn := range []string{
		"",
		"orders",
		"arn:aws:sns:us-east-1:123456789012", // no topic
		"arn:aws:sqs:us-east-1:123456789012:orders",            // an SQS queue
		"arn:aws:sns::123456789012:orders",                     // no region
		"arn::sns:us-east-1:123456789012:orders",               // no partition
		"arn:aws:sns:us-east-1:1234:orders",                    // account not 12 digits
		"arn:aws:sns:us-east-1:12345678901x:orders",            // account not digits
		"arn:aws:sns:us-east-1:123456789012:orders events",     // space in name
		"arn:aws:sns:us-east-1:123456789012:orders/x",          // slash
		"arn:aws:sns:us-east-1:123456789012:.fifo",             // empty name
		"arn:aws:sns:us-east-1:123456789012:" + long,           // too long
		"arn:aws:sns:us-east-1:123456789012:" + long + ".fifo", // too long
	} {
		n, err := notifier.NewSNS(client, notifier.SNSConfig{TopicARN: arn})
		if !errors.Is(err, notifier.ErrInvalidTopicARN) || n != nil {
			t.Errorf("NewSNS(%q) = %v, %v; want ErrInvalidTopicARN", arn, n, err)
		}
	}
	for arn, fifo := range map[string]bool{
		"arn:aws:sns:us-east-1:123456789012:orders":                  false,
		"arn:aws-cn:sns:cn-north-1:123456789012:orders_2-x":          false,
		"arn:aws:sns:eu-west-1:000000000000:orders.fifo":             true,
		"arn:aws:sns:us-east-1:123456789012:" + long[:256]:           false,
		"arn:aws:sns:us-east-1:123456789012:" + long[:251] + ".fifo": true,
	} {
		n, err := notifier.NewSNS(client, notifier.SNSConfig{TopicARN: arn})
		if err != nil {
			t.Errorf("NewSNS(%q): %v", arn, err)
			continue
		}
		if n.FIFO() != fifo || n.TopicARN() != arn {
			t.Errorf("NewSNS(%q): FIFO %v, TopicARN %q", arn, n.FIFO(), n.TopicARN())
		}
	}
	if _, err := notifier.NewSNS(nil, notifier.SNSConfig{TopicARN: "arn:aws:sns:us-east-1:123456789012:orders"}); err == nil {
		t.Error("NewSNS(nil client) succeeded")
	}
}

// TestNotifyDelivers appends commits with an SNS notifier and checks what
// a raw subscription and a wrapped one receive: the envelope and every
// message attribute.
func TestNotifyDelivers(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	raw := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	wrapped := snstest.NewQueue(t, topic, snstest.QueueOptions{Wrapped: true})
	store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{}))

	first := mustAppend(t, store, eventstore.Commit{
		AggregateID: "account#1", Version: 0,
		Events: []eventstore.Event{
			{Type: "accountCreated", Data: json.RawMessage(`{"user": "john", "tags": ["a", "b"]}`), Metadata: map[string]string{"schema": "2"}},
			{Type: "profileEdited", Data: json.RawMessage(`{"name":"John Doe"}`)},
			{Type: "accountCreated"}, // no data; a repeated type
		},
		Metadata: map[string]string{"correlationId": "c-1", "user": "ops"},
	})
	second := mustAppend(t, store, commit("account#1", 1, event("deposited", 10)))
	want := []eventstore.Commit{first, second}

	msgs := raw.Receive(t, 2, 5*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("raw queue received %d messages, want 2", len(msgs))
	}
	envs := decodeAll(t, msgs)
	if envs[0].CommitID != first.CommitID { // a standard queue may swap them
		msgs[0], msgs[1], envs[0], envs[1] = msgs[1], msgs[0], envs[1], envs[0]
	}
	wantTypes := []string{`["accountCreated","profileEdited"]`, `["deposited"]`}
	for i, m := range msgs {
		if diff := cmp.Diff(normalize(want[i]), normalize(envs[i].Commit())); diff != "" {
			t.Errorf("message %d: commit differs (-want +got):\n%s", i, diff)
		}
		wantAttrs := map[string]string{
			"aggregateId": want[i].AggregateID,
			"version":     fmt.Sprint(want[i].Version),
			"commitId":    want[i].CommitID,
			"eventTypes":  wantTypes[i],
		}
		if diff := cmp.Diff(wantAttrs, m.Attributes); diff != "" {
			t.Errorf("message %d: attributes differ (-want +got):\n%s", i, diff)
		}
		wantAttrTypes := map[string]string{"aggregateId": "String", "version": "Number", "commitId": "String", "eventTypes": "String.Array"}
		if diff := cmp.Diff(wantAttrTypes, m.AttributeTypes); diff != "" {
			t.Errorf("message %d: attribute types differ (-want +got):\n%s", i, diff)
		}
		if m.GroupID != "" || m.DedupID != "" {
			t.Errorf("message %d on a standard topic has group %q, dedup id %q", i, m.GroupID, m.DedupID)
		}
	}
	var body map[string]any // the documented field names
	if err := json.Unmarshal([]byte(msgs[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"schema", "aggregateId", "version", "commitId", "committedAt", "events", "metadata"} {
		if _, ok := body[field]; !ok {
			t.Errorf("envelope has no %q: %s", field, msgs[0].Body)
		}
	}
	if _, ok := body["eventsOmitted"]; ok {
		t.Errorf("a small commit's envelope has eventsOmitted: %s", msgs[0].Body)
	}

	got := decodeAll(t, wrapped.Receive(t, 2, 5*time.Second))
	if len(got) != 2 || countByCommit(got)[first.CommitID] != 1 || countByCommit(got)[second.CommitID] != 1 {
		t.Fatalf("wrapped queue: got %v, want one message per commit", countByCommit(got))
	}
}

// normalize makes commits comparable: time in UTC, empty maps as nil.
func normalize(c eventstore.Commit) eventstore.Commit {
	c.CommittedAt = c.CommittedAt.UTC()
	if len(c.Metadata) == 0 {
		c.Metadata = nil
	}
	for i := range c.Events {
		if len(c.Events[i].Metadata) == 0 {
			c.Events[i].Metadata = nil
		}
		if len(c.Events[i].Data) > 0 {
			var v any
			json.Unmarshal(c.Events[i].Data, &v)
			c.Events[i].Data, _ = json.Marshal(v)
		}
	}
	return c
}

// TestFilterPolicyOnScalarAttribute subscribes one queue to every commit and
// one to aggregate "a" only.
func TestFilterPolicyOnScalarAttribute(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	all := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	onlyA := snstest.NewQueue(t, topic, snstest.QueueOptions{FilterPolicy: `{"aggregateId":["a"]}`})
	store, _, _ := newStore(t, newSNS(t, topic, notifier.SNSConfig{}))
	for v := range 3 {
		mustAppend(t, store, commit("a", int64(v)))
		mustAppend(t, store, commit("b", int64(v)))
	}
	if got := all.Receive(t, 6, 5*time.Second); len(got) != 6 {
		t.Errorf("unfiltered queue got %d messages, want 6", len(got))
	}
	got := decodeAll(t, onlyA.Receive(t, 4, 2*time.Second))
	if len(got) != 3 {
		t.Fatalf("filtered queue got %d messages, want 3", len(got))
	}
	for _, e := range got {
		if e.AggregateID != "a" {
			t.Errorf("filtered queue got a commit of %q", e.AggregateID)
		}
	}
}

// TestFIFOSharedCommitID: commits of different aggregates may share a
// caller-set CommitID; on a FIFO topic, which deduplicates topic-wide, each
// must still arrive, published by Notify (through Append) as by
// NotifyBatch, while a commit published twice arrives once.
func TestFIFOSharedCommitID(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, true)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	sn := newSNS(t, topic, notifier.SNSConfig{})
	store, _, _ := newStore(t, sn)
	shared := ulid.Make().String()
	a, b := commit("a", 0), commit("b", 0)
	a.CommitID, b.CommitID = shared, shared
	a, b = mustAppend(t, store, a), mustAppend(t, store, b)
	c, d := commit("c", 0), commit("d", 0)
	c.CommitID, d.CommitID = shared, shared
	c, d = mustAppend(t, store, c), mustAppend(t, store, d)
	if err := sn.NotifyBatch(ctxT(t), []eventstore.Commit{c, d, a}); err != nil { // a: a repeat
		t.Fatal(err)
	}
	msgs := queue.Receive(t, 7, 2*time.Second)
	got := map[string]int{}
	for _, e := range decodeAll(t, msgs) {
		got[e.AggregateID]++
	}
	if want := map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}; !maps.Equal(got, want) {
		t.Fatalf("FIFO queue received %v messages by aggregate, want %v", got, want)
	}
	for _, m := range msgs {
		env, _ := notifier.Decode([]byte(m.Body))
		if want := notifier.DeduplicationID(env.AggregateID, env.Version); m.DedupID != want {
			t.Errorf("message of %s: dedup id %q, want %q", env.AggregateID, m.DedupID, want)
		}
	}
}
