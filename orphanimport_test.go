package eventstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// sweepingBlobs runs a sweep of the blob just put, as a sweeper running
// at that moment would: Orphaned, then Delete if it says so.
type sweepingBlobs struct {
	eventstore.BlobStore
	sweeper atomic.Pointer[eventstore.Store]
	swept   atomic.Int64
	lastKey atomic.Value
}

func (b *sweepingBlobs) Put(ctx context.Context, key string, data []byte) error {
	if err := b.BlobStore.Put(ctx, key, data); err != nil {
		return err
	}
	b.lastKey.Store(key)
	if sweeper := b.sweeper.Load(); sweeper != nil {
		orphan, err := sweeper.Orphaned(ctx, key)
		if err != nil {
			return err
		}
		if orphan {
			b.swept.Add(1)
			return b.BlobStore.Delete(ctx, key)
		}
	}
	return nil
}

// Import writes the blob of an old CommitID before its item: a sweep
// between the two must not judge the blob an orphan (issue 26: it did, by
// the CommitID's age, and the imported commit lost its events). Once the
// writer can no longer store its item, a blob no item points to is an
// orphan again.
func TestOrphanedSparesTheBlobOfAnImportInFlight(t *testing.T) {
	t.Parallel()
	client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	sweeping := &sweepingBlobs{BlobStore: blobs}
	s, db, table := newStore(t, eventstore.Config{Offload: sweeping, ScanShards: 2})
	sweeping.sweeper.Store(s)

	c := bigCommit("history", 0, 500<<10)
	c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-30*24*time.Hour)), rand.Reader).String()
	if _, err := s.Import(ctxT(t), c); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if n := sweeping.swept.Load(); n != 0 {
		t.Errorf("the sweep deleted %d blobs of the import in flight", n)
	}
	for _, err := range s.Query(ctxT(t), "history", 0) {
		if err != nil {
			t.Fatalf("Query of the imported commit: %v", err)
		}
	}

	// Importing it again succeeds and leaves no second blob.
	key := sweeping.lastKey.Load().(string)
	if _, err := s.Import(ctxT(t), c); err != nil {
		t.Fatalf("Import again: %v", err)
	}
	var keys []string
	for k, err := range blobs.Keys(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if len(keys) != 1 || keys[0] != key {
		t.Errorf("blobs after importing again: %v, want the first import's %s only", keys, key)
	}

	// The same blob, its item gone (as if the writer crashed before
	// storing it), to a clock past the writer's deadline: an orphan.
	if _, err := db.DeleteItem(ctxT(t), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "history"}, "version": &types.AttributeValueMemberN{Value: "0"}}}); err != nil {
		t.Fatal(err)
	}
	if orphan, err := s.Orphaned(ctxT(t), key); orphan || err != nil {
		t.Errorf("Orphaned of a blob just written = %v, %v; want false: its writer may still store the item", orphan, err)
	}
	later, err := eventstore.New(dynamotest.Client(t), eventstore.WithClock(eventstore.Config{Table: table, Offload: blobs, ScanShards: 2},
		func() time.Time { return time.Now().Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if orphan, err := later.Orphaned(ctxT(t), key); !orphan || err != nil {
		t.Errorf("Orphaned of an hour-old blob no item points to = %v, %v; want true", orphan, err)
	}
	if _, err := blobs.Get(ctxT(t), key); errors.Is(err, eventstore.ErrBlobNotFound) {
		t.Errorf("the blob is gone")
	}
}

// slowBlobs takes delay to store a blob.
type slowBlobs struct {
	eventstore.BlobStore
	delay time.Duration
}

func (b *slowBlobs) Put(ctx context.Context, key string, data []byte) error {
	time.Sleep(b.delay)
	return b.BlobStore.Put(ctx, key, data)
}

// An import whose blob took longer than the writer deadline to store
// sends no item (Orphaned may judge the blob by then) and deletes the blob.
func TestImportSendsNoItemPastTheBlobsDeadline(t *testing.T) {
	t.Parallel()
	client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	s, _, table := newStore(t, eventstore.Config{Offload: &slowBlobs{BlobStore: blobs, delay: 1500 * time.Millisecond}, MaxCommitLatency: time.Second})
	c := bigCommit("slow", 0, 500<<10)
	c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Hour)), rand.Reader).String()
	if _, err := s.Import(ctxT(t), c); !errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Errorf("Import with a blob slower than the deadline: %v, want ErrOutcomeUnknown", err)
	}
	if n := countItems(t, dynamotest.Client(t), table); n != 0 {
		t.Errorf("%d items stored", n)
	}
	for key, err := range blobs.Keys(ctxT(t)) {
		t.Errorf("blob %s left (%v)", key, err)
	}
}
