package notifier_test

import (
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// A commit whose events are offloaded to S3 is announced by the marker, and
// a subscriber loads it whole through the store.
func TestOffloadedCommitIsAnnouncedByTheMarker(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	s3Client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(s3Client, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	client := dynamotest.Client(t)
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: dynamotest.TableName(t, client), Offload: blobs,
		Notifier: newSNS(t, topic, notifier.SNSConfig{}), MaxCommitLatency: testMaxLatency, Settle: testSettle})
	c := mustAppend(t, store, commit("doc", 0, eventstore.Event{Type: "imported", Data: randomJSONString(1 << 20)}))
	msgs := queue.Receive(t, 1, 5*time.Second)
	if len(msgs) != 1 || msgs[0].Attributes[notifier.AttrEventsOmitted] != "true" {
		t.Fatalf("received %d messages (%v), want the marker", len(msgs), msgs)
	}
	loaded, err := decodeAll(t, msgs)[0].Load(ctxT(t), store)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.CommitID != c.CommitID || string(loaded.Events[0].Data) != string(c.Events[0].Data) {
		t.Fatalf("loaded %s with %d bytes of data, want %s with %d", loaded.CommitID, len(loaded.Events[0].Data), c.CommitID, len(c.Events[0].Data))
	}
}
