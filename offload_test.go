package eventstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// countingBlobs counts the calls to a BlobStore and remembers the keys put.
type countingBlobs struct {
	eventstore.BlobStore
	puts, gets, deletes atomic.Int64
	lastKey             atomic.Value
}

func (b *countingBlobs) Put(ctx context.Context, key string, data []byte) error {
	b.puts.Add(1)
	b.lastKey.Store(key)
	return b.BlobStore.Put(ctx, key, data)
}

func (b *countingBlobs) Get(ctx context.Context, key string) ([]byte, error) {
	b.gets.Add(1)
	return b.BlobStore.Get(ctx, key)
}

func (b *countingBlobs) Delete(ctx context.Context, key string) error {
	b.deletes.Add(1)
	return b.BlobStore.Delete(ctx, key)
}

// offloadStore returns a store whose large commits go to a fresh S3
// bucket of the emulator, the counting blob store, the S3 client and bucket.
func offloadStore(t *testing.T, cfg eventstore.Config) (*eventstore.Store, *countingBlobs, *s3.Client, string, string) {
	t.Helper()
	client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingBlobs{BlobStore: blobs}
	cfg.Offload = counting
	s, _, table := newStore(t, cfg)
	return s, counting, client, bucket, table
}

// sameCommit compares commits, their large data with bytes.Equal (cmp
// walks a byte slice element by element: seconds for 10 MB).
func sameCommit(a, b eventstore.Commit) bool {
	return cmp.Equal(a, b, cmp.Comparer(func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }))
}

func bigCommit(aggregateID string, version int64, bytes int) eventstore.Commit {
	return commit(aggregateID, version,
		eventstore.Event{Type: "imported", Data: json.RawMessage(`"` + randomText(bytes) + `"`), Metadata: map[string]string{"part": "1"}},
		eventstore.Event{Type: "checked", Data: json.RawMessage(`{"ok":true}`)})
}

func TestOffloadRoundTrip(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, table := offloadStore(t, eventstore.Config{ScanShards: 2})
	for i, size := range []int{1 << 20, 10 << 20} {
		id := fmt.Sprintf("doc-%d", i)
		c := bigCommit(id, 0, size)
		start := time.Now()
		stored := mustAppend(t, s, c)
		appendTook := time.Since(start)
		c.CommitID, c.CommittedAt = stored.CommitID, stored.CommittedAt

		start = time.Now()
		got := collect(t, s.Query(ctxT(t), id, 0))
		queryTook := time.Since(start)
		if len(got) != 1 || !sameCommit(got[0], c) {
			t.Fatalf("Query of the %d-byte commit did not return it intact", size)
		}
		t.Logf("%d MB commit: Append %v, Query %v", size>>20, appendTook.Round(time.Millisecond), queryTook.Round(time.Millisecond))
	}
	if p, g := blobs.puts.Load(), blobs.gets.Load(); p != 2 || g != 2 {
		t.Errorf("%d blob puts and %d gets for 2 offloaded commits read once, want 2 and 2", p, g)
	}
	scanned := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	if len(scanned) != 2 || len(scanned[1].Events[0].Data) != 10<<20+2 {
		t.Fatalf("Scan yielded %d commits, want both, events intact", len(scanned))
	}

	// The item keeps a pointer, no events.
	out, err := dynamotest.Client(t).GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "doc-0"}, "version": &types.AttributeValueMemberN{Value: "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item["events"]; ok || out.Item["eventsKey"] == nil || out.Item["eventsSum"] == nil {
		t.Errorf("offloaded item has attributes %v, want a pointer instead of events", slices.Collect(maps.Keys(out.Item)))
	}
}

func TestOffloadConflictLeavesNoReadableOrphan(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{})
	winner := mustAppend(t, s, bigCommit("doc", 0, 600<<10))
	loser, err := s.Append(ctxT(t), bigCommit("doc", 0, 600<<10))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || conflict.CommitID != winner.CommitID {
		t.Fatalf("second append at version 0: %v, want a conflict", err)
	}
	if blobs.deletes.Load() != 1 {
		t.Errorf("%d blob deletes after a conflict, want the loser's 1", blobs.deletes.Load())
	}
	if _, err := blobs.BlobStore.Get(ctxT(t), blobs.lastKey.Load().(string)); !errors.Is(err, eventstore.ErrBlobNotFound) {
		t.Errorf("the loser's blob is still there: %v", err)
	}
	got := collect(t, s.Query(ctxT(t), "doc", 0))
	if len(got) != 1 || got[0].CommitID != winner.CommitID || got[0].CommitID == loser.CommitID {
		t.Fatalf("Query = %d commits, want the winner only", len(got))
	}
	if len(got[0].Events[0].Data) != 600<<10+2 {
		t.Errorf("winner's events damaged by the loser's cleanup")
	}
}

func TestOffloadMissingOrCorruptObjectIsANamedError(t *testing.T) {
	t.Parallel()
	s, blobs, client, bucket, _ := offloadStore(t, eventstore.Config{})
	mustAppend(t, s, bigCommit("gone", 0, 500<<10))
	goneKey := blobs.lastKey.Load().(string)
	mustAppend(t, s, bigCommit("bent", 0, 500<<10))
	bentKey := blobs.lastKey.Load().(string)
	if _, err := client.DeleteObject(ctxT(t), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("events/" + goneKey)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("events/" + bentKey),
		Body: strings.NewReader("not what was stored")}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		aggregate, key string
		want           error
	}{{"gone", goneKey, eventstore.ErrBlobNotFound}, {"bent", bentKey, eventstore.ErrCorruptCommit}} {
		var got error
		for _, err := range s.Query(ctxT(t), tt.aggregate, 0) {
			got = err
		}
		if !errors.Is(got, tt.want) {
			t.Errorf("Query of %s: %v, want %v", tt.aggregate, got, tt.want)
			continue
		}
		for _, part := range []string{`"` + tt.aggregate + `" version 0`, tt.key} {
			if !strings.Contains(got.Error(), part) {
				t.Errorf("error %q does not name %s", got, part)
			}
		}
	}
}

func TestOffloadScanKeepsOrderOverAMix(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{ScanShards: 3})
	var n atomic.Int64
	want := writeConcurrently(t, s, 6, 8, func() eventstore.Event {
		if i := n.Add(1); i%4 != 0 {
			return event("small", int(i))
		}
		return eventstore.Event{Type: "big", Data: json.RawMessage(`"` + randomText(400<<10) + `"`)}
	})
	got := collect(t, s.Scan(ctxT(t), "", eventstore.WithSettle(0)))
	checkLog(t, got, want)
	for i := range got {
		if !sameCommit(got[i], want[i]) {
			t.Fatalf("commit %d differs from what was appended", i)
		}
	}
	if blobs.puts.Load() == 0 {
		t.Error("no commit was offloaded")
	}
	seen, stop := tailUntil(t, s, "", eventstore.WithSettle(0))
	eventually(t, 30*time.Second, func() bool { return seen() >= len(want) })
	tailed, _ := stop()
	checkLog(t, tailed, want)
	for i := range tailed {
		if !sameCommit(tailed[i], want[i]) {
			t.Fatalf("tailed commit %d differs from what was appended", i)
		}
	}
}

func TestOffloadAppendAll(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{})
	stored, err := s.AppendAll(ctxT(t), bigCommit("x", 0, 700<<10), commit("y", 0), bigCommit("z", 0, 400<<10))
	if err != nil {
		t.Fatal(err)
	}
	if blobs.puts.Load() != 2 {
		t.Errorf("%d blobs for 2 large commits", blobs.puts.Load())
	}
	for _, c := range stored {
		got := collect(t, s.Query(ctxT(t), c.AggregateID, 0))
		if len(got) != 1 || !sameCommit(got[0], c) {
			t.Errorf("Query of %s did not return the commit AppendAll stored", c.AggregateID)
		}
	}
	// A conflicting group deletes the blob of the commit that lost.
	_, err = s.AppendAll(ctxT(t), bigCommit("x", 0, 500<<10), commit("w", 0))
	if !errors.Is(err, eventstore.ErrVersionConflict) || blobs.deletes.Load() != 1 {
		t.Errorf("conflicting AppendAll: %v, %d deletes; want a conflict and 1 delete", err, blobs.deletes.Load())
	}
}

func TestOffloadLimits(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{MaxCommitBytes: 2 << 20})
	if _, err := s.Append(ctxT(t), bigCommit("huge", 0, 3<<20)); !errors.Is(err, eventstore.ErrCommitTooLarge) ||
		!strings.Contains(err.Error(), "MaxCommitBytes") {
		t.Errorf("3 MB commit over a 2 MB bound: %v, want ErrCommitTooLarge naming MaxCommitBytes", err)
	}
	if blobs.puts.Load() != 0 {
		t.Errorf("%d blobs written for a refused commit", blobs.puts.Load())
	}
	plain, _, _ := newStore(t, eventstore.Config{})
	if _, err := plain.Append(ctxT(t), bigCommit("big", 0, 1<<20)); !errors.Is(err, eventstore.ErrCommitTooLarge) {
		t.Errorf("1 MB commit without Offload: %v, want ErrCommitTooLarge", err)
	}
}

func TestOffloadSweepDeletesOnlyOrphans(t *testing.T) {
	t.Parallel()
	client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	s, _, table := newStore(t, eventstore.Config{Offload: blobs, ScanShards: 3})
	kept := mustAppend(t, s, bigCommit("kept", 0, 500<<10))
	old := ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Hour)), rand.Reader).String()
	fresh := ulid.MustNew(ulid.Timestamp(time.Now()), rand.Reader).String()
	for _, id := range []string{old, fresh} {
		if err := blobs.Put(ctxT(t), "0123/0/"+id, []byte("orphan")); err != nil {
			t.Fatal(err)
		}
	}
	// A store whose clock is an hour on sees the kept commit as settled.
	later, err := eventstore.New(dynamotest.Client(t), eventstore.WithClock(eventstore.Config{Table: table, Offload: blobs, ScanShards: 3}, func() time.Time { return time.Now().Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	var swept []string
	for key, err := range blobs.Keys(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		orphan, err := later.Orphaned(ctxT(t), key)
		if err != nil {
			t.Fatalf("Orphaned(%s): %v", key, err)
		}
		if orphan {
			swept = append(swept, key)
			blobs.Delete(ctxT(t), key)
		}
	}
	if !slices.Equal(swept, []string{"0123/0/" + old, "0123/0/" + fresh}) {
		t.Errorf("swept %v, want the two orphans (the fresh one is an hour old to this clock)", swept)
	}
	if orphan, err := s.Orphaned(ctxT(t), "0123/0/"+fresh); orphan || err != nil {
		t.Errorf("a blob of a fresh CommitID is an orphan (%v, %v): its commit may still land", orphan, err)
	}
	got := collect(t, s.Query(ctxT(t), "kept", 0))
	if len(got) != 1 || got[0].CommitID != kept.CommitID || len(got[0].Events[0].Data) != 500<<10+2 {
		t.Errorf("the sweep damaged the stored commit")
	}
	if _, err := s.Orphaned(ctxT(t), "not/a-key"); err == nil {
		t.Error("Orphaned accepted a key the store never writes")
	}
}

func TestParseImageOfAnOffloadedCommit(t *testing.T) {
	t.Parallel()
	s, _, _, _, table := offloadStore(t, eventstore.Config{})
	mustAppend(t, s, bigCommit("img", 0, 500<<10))
	out, err := dynamotest.Client(t).GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "img"}, "version": &types.AttributeValueMemberN{Value: "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eventstore.ParseImage(out.Item); !errors.Is(err, eventstore.ErrEventsOffloaded) {
		t.Errorf("ParseImage of an offloaded commit: %v, want ErrEventsOffloaded", err)
	}
}
