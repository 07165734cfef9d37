package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// BlobStore keeps the events of commits too large for one DynamoDB item
// (Config.Offload); s3offload.Store keeps them in S3. Implementations must be
// safe for concurrent use.
type BlobStore interface {
	// Put stores data at key, replacing what was there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the data at key, or an error wrapping ErrBlobNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// SizedBlobStore is a BlobStore that can read a blob knowing the size its
// item records (s3offload.Store is one): it reads no more than that size
// and a byte, so that an object replaced by a larger one costs no more
// memory than the blob written. The store calls GetSized, when
// Config.Offload has it, in place of Get.
type SizedBlobStore interface {
	BlobStore
	// GetSized returns the data at key, as Get does, when it holds at most
	// size bytes; when it holds more, an error wrapping ErrCorruptCommit,
	// having read at most size+1 bytes of it.
	GetSized(ctx context.Context, key string, size int64) ([]byte, error)
}

// Defaults of the offload settings of Config.
const (
	// DefaultOffloadAbove is the size of a commit's encoded events (after
	// compression) past which they go to Config.Offload: 256 KiB, well
	// under the 400 KB item limit, so the item keeps room for its key,
	// metadata and attributes and DynamoDB writes stay cheap.
	DefaultOffloadAbove = 256 << 10
	// DefaultMaxCommitBytes bounds a commit's events as JSON, before
	// compression: 16 MiB.
	DefaultMaxCommitBytes = 16 << 20
)

// maxBlobBytes is the size of the largest blob a store writes: DEFLATE of
// maxEventsBytes of JSON, which grows incompressible input by 5 bytes a
// 64 KiB block at most.
const maxBlobBytes = maxEventsBytes + maxEventsBytes/1024

// maxParallelFetches bounds the blobs one read fetches at a time.
const maxParallelFetches = 8

// blobKey names the blob of a commit: a hash of the aggregate id (ids may
// be 2 KB of any characters; S3 keys 1 KB), the version, the CommitID and
// the first 16 hex digits of the blob's SHA-256, so that a blob is never
// overwritten with other content: a retry of the same commit writes the
// same key with the same bytes, a retry with changed content (an error,
// see sameCommit) writes another key, and two commits never share one.
// Stores before this change wrote keys without the content hash; their
// items hold those keys, which stay readable.
func blobKey(c Commit, blob []byte) string {
	h := sha256.Sum256([]byte(c.AggregateID))
	return hex.EncodeToString(h[:16]) + "/" + strconv.FormatInt(c.Version, 10) + "/" + c.CommitID + "/" + checksum(blob)[:16]
}

// importBlobKey is the key of an imported commit's blob: its blobKey and
// a ULID of the time it is written. An imported commit's CommitID may be
// of any age, so the age Orphaned judges a blob by is that of the write,
// which the key must therefore record (the BlobStore interface keeps no
// time of its own).
func importBlobKey(key string, written time.Time) (string, error) {
	id, err := nextCommitID(written)
	return key + "/" + id.String(), err
}

// compressed is the DEFLATE form of raw, which packEvents may have made
// already: an offloaded blob is always compressed.
func compressed(events types.AttributeValue, raw []byte) []byte {
	if b, ok := events.(*types.AttributeValueMemberB); ok {
		return b.Value
	}
	return deflate(raw)
}

func checksum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// fetchEvents reads and checks the offloaded events of c. Errors name the
// aggregate, version and key: a missing blob wraps ErrBlobNotFound, a
// corrupt one ErrCorruptCommit.
func (s *Store) fetchEvents(ctx context.Context, c *Commit, ref *blobRef) error {
	fail := func(err error) error {
		return fmt.Errorf("eventstore: aggregate %q version %d: offloaded events %s: %w", c.AggregateID, c.Version, ref.key, err)
	}
	data, err := s.readBlob(ctx, ref)
	if err != nil {
		return fail(err)
	}
	events, err := decodeEvents(&types.AttributeValueMemberB{Value: data})
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrCorruptCommit, err))
	}
	c.Events = events
	return nil
}

// readBlob reads the blob ref points to, no more than its recorded size
// when the blob store allows it (SizedBlobStore), and checks its size and
// checksum: a missing blob wraps ErrBlobNotFound, a corrupt one
// ErrCorruptCommit.
func (s *Store) readBlob(ctx context.Context, ref *blobRef) ([]byte, error) {
	if s.cfg.Offload == nil {
		return nil, errors.New("the store has no Config.Offload to read it from")
	}
	var data []byte
	var err error
	if sized, ok := s.cfg.Offload.(SizedBlobStore); ok {
		data, err = sized.GetSized(ctx, ref.key, ref.size)
	} else {
		data, err = s.cfg.Offload.Get(ctx, ref.key)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != ref.size || checksum(data) != ref.sum {
		return nil, fmt.Errorf("%w: %d bytes with checksum %s, want %d bytes with %s",
			ErrCorruptCommit, len(data), checksum(data)[:12], ref.size, ref.sum[:min(12, len(ref.sum))])
	}
	return data, nil
}

// fetchAll fetches the offloaded events of the commits that have a ref, at
// most maxParallelFetches at a time; the first error is returned.
func (s *Store) fetchAll(ctx context.Context, commits []Commit, refs []*blobRef) error {
	var todo []int
	for i, ref := range refs {
		if ref != nil {
			todo = append(todo, i)
		}
	}
	return inParallel(ctx, len(todo), func(ctx context.Context, j int) error {
		i := todo[j]
		return s.fetchEvents(ctx, &commits[i], refs[i])
	})
}

// storeBlobs writes the offloaded events of commits before their items, at
// most maxParallelFetches at a time. A retry of the same commit writes the
// same key with the same bytes again, which is harmless.
func (s *Store) storeBlobs(ctx context.Context, encs ...encoded) error {
	return s.forEachBlob(ctx, encs, func(ctx context.Context, e encoded) error {
		if err := s.cfg.Offload.Put(ctx, e.blobKey, e.blob); err != nil {
			return fmt.Errorf("eventstore: store offloaded events %s: %w", e.blobKey, err)
		}
		return nil
	})
}

// dropBlobs deletes, best effort, the blobs written for commits that err
// says are not stored: a conflict (a cancelled transaction stores none of
// its commits), ErrCommitDeadline, or a *CommitMismatchError. It keeps the
// keys in keep and those of the stored commits a mismatch names: a blob of
// the same bytes as a stored commit's has its key. A blob whose commit may
// have landed (an unknown outcome) stays; an orphan is never read, since
// only an item points to a blob. See doc.go, "Large commits".
func (s *Store) dropBlobs(ctx context.Context, err error, keep map[string]bool, encs ...encoded) {
	if !errors.Is(err, ErrVersionConflict) && !errors.Is(err, ErrCommitDeadline) && !errors.Is(err, ErrCommitMismatch) {
		return
	}
	if errors.Is(err, ErrOutcomeUnknown) {
		return
	}
	for _, m := range mismatches(err) {
		if keep == nil {
			keep = map[string]bool{}
		}
		keep[m.storedKey] = true
	}
	for _, e := range encs {
		if e.blob != nil && !keep[e.blobKey] {
			s.cfg.Offload.Delete(ctx, e.blobKey) // best effort
		}
	}
}

// mismatches returns every *CommitMismatchError in err's tree.
func mismatches(err error) []*CommitMismatchError {
	var out []*CommitMismatchError
	walkErrors(err, func(err error) {
		if m, ok := err.(*CommitMismatchError); ok {
			out = append(out, m)
		}
	})
	return out
}

// forEachBlob runs op on each encoded commit with a blob, at most
// maxParallelFetches at a time, and returns the first error.
func (s *Store) forEachBlob(ctx context.Context, encs []encoded, op func(context.Context, encoded) error) error {
	var todo []encoded
	for _, e := range encs {
		if e.blob != nil {
			todo = append(todo, e)
		}
	}
	return inParallel(ctx, len(todo), func(ctx context.Context, i int) error { return op(ctx, todo[i]) })
}

// inParallel runs op(0) to op(n-1), at most maxParallelFetches at a time,
// and returns the first error, cancelling the others' ctx, or ctx's error.
func inParallel(ctx context.Context, n int, op func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelFetches)
	for i := range n {
		g.Go(func() error { return op(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// Orphaned reports whether the blob at key, a key the store wrote to
// Config.Offload, belongs to no stored commit and never will, so that a
// sweep may delete it. Orphans are left by a crash between the blob and the
// item, an unknown outcome whose commit never landed, or a failed cleanup;
// no read ever follows one. A blob is an orphan once no writer can store
// its item any more, and no commit in the scan index points to it. The
// writer's deadline runs from the blob's write: from its CommitID's time
// for Append and AppendAll, whose puts end at the writer deadline, and from
// the time the key records for Import, which writes the blob of an old
// CommitID (see Import). A blob is therefore judged only once that time is
// older than the settle window, the longer of Config.Settle and the
// table's writer deadline plus SettleAllowance: by then its item has
// landed, or never will, and the index, which Tail trusts alike, has
// caught up. (The key holds a hash of the aggregate id, not the id, so the
// table cannot be read by key.) It costs one index query per scan shard,
// and reads the table's metadata item once per Store. Sweep with a listing
// of the bucket:
//
//	for key, err := range blobs.Keys(ctx) { // s3offload.Store.Keys
//		if orphan, err := store.Orphaned(ctx, key); err == nil && orphan {
//			blobs.Delete(ctx, key)
//		}
//	}
func (s *Store) Orphaned(ctx context.Context, key string) (bool, error) {
	// hash/version/CommitID, then the content hash since issue 12, then
	// the write time of an Import's blob since issue 26.
	parts := strings.Split(key, "/")
	if len(parts) < 3 || len(parts) > 5 {
		return false, fmt.Errorf("%w: %q", errNotBlobKey, key)
	}
	id, err := parseCommitID(parts[2])
	if err != nil {
		return false, fmt.Errorf("%w: %q: %v", errNotBlobKey, key, err)
	}
	written := commitTime(id)
	if len(parts) == 5 {
		w, err := parseCommitID(parts[4])
		if err != nil {
			return false, fmt.Errorf("%w: %q: write time: %v", errNotBlobKey, key, err)
		}
		if t := commitTime(w); t.After(written) {
			written = t
		}
	}
	if s.cfg.now().Sub(written) <= s.cfg.Settle {
		return false, nil // its commit may still land, or not be indexed yet
	}
	if err := s.checkShards(ctx); err != nil {
		return false, fmt.Errorf("eventstore: is %s an orphan: %w", key, err)
	}
	if s.cfg.now().Sub(written) <= s.shards.latency+SettleAllowance {
		return false, nil // a writer with the table's longer deadline may still store it
	}
	queries, err := s.shardQueries(ctx, id, id, partition{})
	if err != nil {
		return false, fmt.Errorf("eventstore: is %s an orphan: %w", key, err)
	}
	for _, in := range queries {
		out, err := s.client.Query(pagesOf(ctx, OpScan), in, s.opts...)
		if err != nil {
			return false, fmt.Errorf("eventstore: is %s an orphan: %w", key, err)
		}
		for _, item := range out.Items {
			if ref, _ := decodeRef(item); ref != nil && ref.key == key {
				return false, nil
			}
		}
	}
	return true, nil
}
