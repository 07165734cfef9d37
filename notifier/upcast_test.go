package notifier_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// v1ToV3 upcasts "opened" v1 -> v2 -> v3, each step adding a field.
var v1ToV3 = []eventstore.Upcaster{
	{Type: "opened", Version: "1", ToVersion: "2", Upcast: addField(`"b":2`)},
	{Type: "opened", Version: "2", ToVersion: "3", Upcast: addField(`"c":3`)},
}

func addField(field string) func(eventstore.Event) (eventstore.Event, error) {
	return func(e eventstore.Event) (eventstore.Event, error) {
		e.Data = append(e.Data[:len(e.Data)-1], []byte(","+field+"}")...)
		return e, nil
	}
}

// TestRelayEnvelopesAreUpcast: a relay on a store with upcasters publishes
// a stored v1 event as v3, through SNS to an SQS subscriber, and an
// envelope without events loads v3 too.
func TestRelayEnvelopesAreUpcast(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	raw, client, table := newStore(t, nil)
	stored := mustAppend(t, raw, eventstore.Commit{AggregateID: "acct#1", Version: 0,
		Events: []eventstore.Event{{Type: "opened", Data: json.RawMessage(`{"a":1}`), Metadata: map[string]string{"v": "1"}}}})
	up, err := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: testMaxLatency, Settle: testSettle, Upcasters: v1ToV3})
	if err != nil {
		t.Fatal(err)
	}
	want := []notifier.EnvelopeEvent{{Type: "opened", Data: json.RawMessage(`{"a":1,"b":2,"c":3}`), Metadata: map[string]string{"v": "3"}}}

	startRelay(t, notifier.RelayConfig{Store: up, Notifier: newSNS(t, topic, notifier.SNSConfig{}), DynamoDB: client, Table: table, Name: "up"})
	envs := decodeAll(t, queue.Receive(t, 1, 5*time.Second))
	if len(envs) != 1 || envs[0].CommitID != stored.CommitID {
		t.Fatalf("queue received %+v, want commit %s", envs, stored.CommitID)
	}
	if diff := cmp.Diff(want, envs[0].Events); diff != "" {
		t.Errorf("relay's envelope (-want v3 +got):\n%s", diff)
	}

	omitted := envs[0]
	omitted.Events, omitted.EventsOmitted = nil, true
	c, err := omitted.Load(ctxT(t), up)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, notifier.NewEnvelope(c).Events); diff != "" {
		t.Errorf("Envelope.Load (-want v3 +got):\n%s", diff)
	}
}
