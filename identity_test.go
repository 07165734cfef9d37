package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// Issue 12: a retry succeeds only if the stored commit is the same commit.

func TestRetryWithOtherContentIsAMismatch(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	base := commit("acct", 0, event("opened", 1))
	base.Metadata = map[string]string{"user": "ann"}
	stored := mustAppend(t, s, base)
	if _, err := s.Append(ctxT(t), stored); err != nil {
		t.Fatalf("retry of the same commit: %v, want success", err)
	}
	changedEvents := stored
	changedEvents.Events = []eventstore.Event{event("opened", 2)}
	changedMeta := stored
	changedMeta.Metadata = map[string]string{"user": "bob"}
	for _, tc := range []struct {
		name, differs string
		c             eventstore.Commit
	}{{"events", "events", changedEvents}, {"metadata", "commit metadata", changedMeta}} {
		_, err := s.Append(ctxT(t), tc.c)
		var m *eventstore.CommitMismatchError
		if !errors.As(err, &m) || m.CommitID != stored.CommitID || m.Differs != tc.differs || m.AggregateID != "acct" || m.Version != 0 {
			t.Fatalf("%s: retry with other content: %v, want a *CommitMismatchError naming %s", tc.name, err, tc.differs)
		}
		if errors.Is(err, eventstore.ErrVersionConflict) || errors.Is(err, eventstore.ErrOutcomeUnknown) || !errors.Is(err, eventstore.ErrCommitMismatch) {
			t.Errorf("%s: mismatch matches the wrong sentinels: %v", tc.name, err)
		}
		_, err = s.AppendAll(ctxT(t), tc.c, commit("other", 0))
		if !errors.As(err, &m) || m.CommitID != stored.CommitID {
			t.Fatalf("%s: AppendAll retry with other content: %v, want a *CommitMismatchError", tc.name, err)
		}
	}
	got := collect(t, s.Query(ctxT(t), "acct", 0))
	if len(got) != 1 || !sameCommit(got[0], stored) {
		t.Fatalf("Query = %+v, want the first commit unchanged", got)
	}
	if n := countItems(t, client, table); n != 1 {
		t.Errorf("table holds %d commits, want 1 (AppendAll must store none)", n)
	}
}

// A changed-content retry of an offloaded commit writes its blob at another
// key, so the stored commit's blob is never overwritten, and deletes it.
func TestOffloadRetryWithOtherContentKeepsTheStoredBlob(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{})
	stored := mustAppend(t, s, bigCommit("doc", 0, 600<<10))
	storedKey := blobs.lastKey.Load().(string)
	changed := stored
	changed.Events = bigCommit("doc", 0, 600<<10).Events
	_, err := s.Append(ctxT(t), changed)
	if !errors.Is(err, eventstore.ErrCommitMismatch) {
		t.Fatalf("retry with other events: %v, want ErrCommitMismatch", err)
	}
	newKey := blobs.lastKey.Load().(string)
	if newKey == storedKey {
		t.Fatalf("the changed retry wrote the stored commit's blob key %s", storedKey)
	}
	if _, err := blobs.BlobStore.Get(ctxT(t), newKey); !errors.Is(err, eventstore.ErrBlobNotFound) {
		t.Errorf("the mismatched retry's blob %s is left behind: %v", newKey, err)
	}
	// Only the commit metadata differs: same blob bytes, same key, kept.
	changedMeta := stored
	changedMeta.Metadata = map[string]string{"k": "v"}
	if _, err := s.Append(ctxT(t), changedMeta); !errors.Is(err, eventstore.ErrCommitMismatch) {
		t.Fatalf("retry with other metadata: %v, want ErrCommitMismatch", err)
	}
	got := collect(t, s.Query(ctxT(t), "doc", 0))
	if len(got) != 1 || !sameCommit(got[0], stored) {
		t.Fatalf("the stored commit does not read back intact")
	}
	if _, err := s.Append(ctxT(t), stored); err != nil {
		t.Errorf("retry of the same offloaded commit: %v, want success", err)
	}
}

// A conflicting AppendAll stores none of its commits and deletes every
// blob it wrote.
func TestOffloadConflictingAppendAllDeletesAllItsBlobs(t *testing.T) {
	t.Parallel()
	s3client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(s3client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingBlobs{BlobStore: blobs}
	s, _, _ := newStore(t, eventstore.Config{Offload: rec})
	winner := mustAppend(t, s, bigCommit("b", 0, 400<<10))
	rec.keys = nil
	_, err = s.AppendAll(ctxT(t), bigCommit("a", 0, 400<<10), bigCommit("b", 0, 400<<10), bigCommit("c", 0, 400<<10))
	if cs := eventstore.Conflicts(err); len(cs) != 1 || cs[0].CommitID != winner.CommitID {
		t.Fatalf("AppendAll: %v, want one conflict on b", err)
	}
	if len(rec.keys) != 3 {
		t.Fatalf("%d blobs written, want 3", len(rec.keys))
	}
	for _, k := range rec.keys {
		if _, err := blobs.Get(ctxT(t), k); !errors.Is(err, eventstore.ErrBlobNotFound) {
			t.Errorf("blob %s of the cancelled group is left behind: %v", k, err)
		}
	}
	if got := collect(t, s.Query(ctxT(t), "b", 0)); len(got) != 1 || !sameCommit(got[0], winner) {
		t.Errorf("the winner does not read back intact")
	}
}

// recordingBlobs records the keys put.
type recordingBlobs struct {
	eventstore.BlobStore
	mu   sync.Mutex
	keys []string
}

func (b *recordingBlobs) Put(ctx context.Context, key string, data []byte) error {
	b.mu.Lock()
	b.keys = append(b.keys, key)
	b.mu.Unlock()
	return b.BlobStore.Put(ctx, key, data)
}

// countingNotifier fails its first failures calls, and counts them all.
type countingNotifier struct {
	failures int64
	calls    atomic.Int64
}

func (n *countingNotifier) Notify(ctx context.Context, c eventstore.Commit) error {
	if n.calls.Add(1) <= n.failures {
		return errors.New("publish failed")
	}
	return nil
}

func TestAppendNewRetryNotifies(t *testing.T) {
	t.Parallel()
	t.Run("after a NotifyError", func(t *testing.T) {
		t.Parallel()
		n := &countingNotifier{failures: 1}
		s, _, _ := newStore(t, eventstore.Config{Notifier: n})
		c, err := s.AppendNew(ctxT(t), commit("new", 0))
		var ne *eventstore.NotifyError
		if !errors.As(err, &ne) {
			t.Fatalf("AppendNew: %v, want a *NotifyError", err)
		}
		if _, err := s.AppendNew(ctxT(t), c); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if n.calls.Load() != 2 {
			t.Errorf("Notifier called %d times, want 2 (the retry announces the stored commit)", n.calls.Load())
		}
	})
	t.Run("after an unknown outcome that landed", func(t *testing.T) {
		t.Parallel()
		var on atomic.Bool
		ft := &faults.Transport{Decide: func(op string) faults.Kind {
			if on.Load() && op == "PutItem" {
				return faults.LoseResponse
			}
			return faults.None
		}}
		n := &countingNotifier{}
		s, client, table := newStore(t, eventstore.Config{Notifier: n}, withTransport(ft), func(o *dynamodb.Options) {
			o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1)
		})
		on.Store(true)
		c, err := s.AppendNew(ctxT(t), commit("new", 0))
		if !errors.Is(err, eventstore.ErrOutcomeUnknown) {
			t.Fatalf("AppendNew with its response lost: %v, want ErrOutcomeUnknown", err)
		}
		if n.calls.Load() != 0 {
			t.Fatalf("notified an unknown outcome")
		}
		clean := storeOn(t, client, table, eventstore.Config{Notifier: n})
		if _, err := clean.AppendNew(ctxT(t), c); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if n.calls.Load() != 1 {
			t.Errorf("Notifier called %d times, want 1", n.calls.Load())
		}
	})
}

func TestAppendNextPastTheLargestVersionIsRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	// A commit AT the largest version is fine; the store refuses gaps, so
	// it is written as a raw copy of version 0's item.
	mustAppend(t, s, commit("full", 0))
	key := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "full"},
		"version":     &types.AttributeValueMemberN{Value: "0"},
	}
	got, err := client.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	item := got.Item
	item["version"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(math.MaxInt64, 10)}
	delete(item, "aggregateShard")
	if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	c, err := s.AppendNext(ctxT(t), commit("full", 0))
	if !errors.Is(err, eventstore.ErrInvalidCommit) || !strings.Contains(err.Error(), "largest version") {
		t.Fatalf("AppendNext after version 2^63-1: %v (version %d), want ErrInvalidCommit", err, c.Version)
	}
	if n := countItems(t, client, table); n != 2 {
		t.Errorf("table holds %d commits, want 2", n)
	}
}

func TestLimitsCheckedBeforeSending(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	longKey := commit("meta", 0)
	for _, n := range []int{64 << 10, 50_001} {
		longKey.Metadata = map[string]string{strings.Repeat("k", n): "v"}
		if _, err := s.Append(ctxT(t), longKey); !errors.Is(err, eventstore.ErrInvalidCommit) || errors.Is(err, eventstore.ErrOutcomeUnknown) {
			t.Errorf("metadata key of %d bytes: %v, want ErrInvalidCommit", n, err)
		}
	}
	okKey := commit("meta", 0)
	okKey.Metadata = map[string]string{strings.Repeat("k", 50_000): "v"}
	mustAppend(t, s, okKey)
	if n := countItems(t, client, table); n != 1 {
		t.Errorf("table holds %d commits, want 1", n)
	}
}

func TestOffloadMetadataShareOfTheItem(t *testing.T) {
	t.Parallel()
	s, blobs, _, _, _ := offloadStore(t, eventstore.Config{})
	// Events under OffloadAbove, but with the metadata over 400 KB: offloaded.
	c := bigCommit("m", 0, 200<<10)
	c.Metadata = map[string]string{"big": randomText(250 << 10)}
	stored := mustAppend(t, s, c)
	if blobs.puts.Load() != 1 {
		t.Errorf("%d blobs written, want the events offloaded", blobs.puts.Load())
	}
	if got := collect(t, s.Query(ctxT(t), "m", 0)); len(got) != 1 || !sameCommit(got[0], stored) {
		t.Errorf("commit does not read back")
	}
	// Metadata that alone cannot fit is refused, naming its size.
	c = commit("m", 1)
	c.Metadata = map[string]string{"big": randomText(410 << 10)}
	_, err := s.Append(ctxT(t), c)
	if !errors.Is(err, eventstore.ErrCommitTooLarge) || !strings.Contains(err.Error(), "commit metadata") {
		t.Errorf("410 KB of metadata: %v, want ErrCommitTooLarge naming the metadata", err)
	}
	if blobs.puts.Load() != 1 {
		t.Errorf("refused commit wrote a blob")
	}
}

func TestOutcomeUnknownIsOneSentinel(t *testing.T) {
	t.Parallel()
	var on atomic.Bool // no faults while the table is created
	ft := &faults.Transport{Decide: func(op string) faults.Kind {
		if on.Load() && (op == "PutItem" || op == "TransactWriteItems") {
			return faults.ResetBeforeSend
		}
		return faults.None
	}}
	s, _, _ := newStore(t, eventstore.Config{}, viaHTTP(ft), fastRetries)
	on.Store(true)
	_, err := s.Append(ctxT(t), commit("u", 0))
	if !errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Errorf("Append under resets: %v, want ErrOutcomeUnknown", err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if _, err = s.AppendAll(ctx, commit("u", 0), commit("v", 0)); !errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Errorf("AppendAll with a cancelled ctx: %v, want ErrOutcomeUnknown", err)
	}
	if _, err := s.Append(ctx, commit("u", 0)); !errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Errorf("Append with a cancelled ctx: %v, want ErrOutcomeUnknown", err)
	}
	if _, err := s.Append(ctxT(t), eventstore.Commit{AggregateID: "u"}); errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Errorf("a validation error matches ErrOutcomeUnknown: %v", err)
	}
}

// An AppendAll some of whose commits an earlier group stored says what is
// true: this group can never be stored, none of the others is.
func TestAppendAllPartlyStoredIsAConflict(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	a := mustAppend(t, s, commit("a", 0))
	_, err := s.AppendAll(ctxT(t), a, commit("b", 0))
	cs := eventstore.Conflicts(err)
	if len(cs) != 1 || cs[0].CommitID != a.CommitID || strings.Contains(err.Error(), "retry with the same group") {
		t.Fatalf("AppendAll with a stored commit: %v, want a conflict naming %s", err, a.CommitID)
	}
	if n := countItems(t, client, table); n != 1 {
		t.Errorf("table holds %d commits, want 1", n)
	}
}

// Issue 15: event data from json.Encoder ends with a newline.
func TestEventDataIsTrimmed(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	data := json.RawMessage("  {\"n\": 1}\n")
	c := commit("trim", 0, eventstore.Event{Type: "t", Data: data})
	stored := mustAppend(t, s, c)
	if string(stored.Events[0].Data) != `{"n": 1}` {
		t.Errorf("returned Data %q, want it trimmed", stored.Events[0].Data)
	}
	if string(c.Events[0].Data) != string(data) {
		t.Errorf("the caller's event was modified")
	}
	got := collect(t, s.Query(ctxT(t), "trim", 0))
	if len(got) != 1 || !sameCommit(got[0], stored) {
		t.Errorf("Query = %+v, want the returned commit byte for byte", got)
	}
	if _, err := s.Append(ctxT(t), commit("trim", 1, eventstore.Event{Type: "t", Data: json.RawMessage(" \n")})); !errors.Is(err, eventstore.ErrInvalidCommit) {
		t.Errorf("whitespace-only data: %v, want ErrInvalidCommit", err)
	}
}

// Issue 15: a ULID is case-insensitive; CommitIDs in items stay canonical.
func TestLowerCaseCheckpointAndCommitID(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	first := mustAppend(t, s, commit("lc", 0))
	c := commit("lc", 1)
	// after first's, whose time the process's other stores may have pushed ahead
	c.CommitID = strings.ToLower(ulid.MustNew(ulid.MustParse(first.CommitID).Time()+1, ulid.DefaultEntropy()).String())
	second := mustAppend(t, s, c)
	if second.CommitID != strings.ToUpper(c.CommitID) {
		t.Errorf("returned CommitID %s, want the canonical form", second.CommitID)
	}
	got := collect(t, s.Scan(ctxT(t), strings.ToLower(first.CommitID), eventstore.WithSettle(0)))
	if len(got) != 1 || got[0].CommitID != second.CommitID {
		t.Errorf("Scan after a lower-case checkpoint = %+v, want the second commit", got)
	}
}

// viaHTTP sends a client's requests through rt.
func viaHTTP(rt http.RoundTripper) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: rt} }
}
