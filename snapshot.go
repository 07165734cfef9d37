package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Snapshots: the caller's state of an aggregate at a version, saved beside
// its commits, and the load that starts from the newest one. See doc.go,
// "Snapshots", for the item and the requests.

// maxSnapshotTagBytes bounds a snapshot's tag.
const maxSnapshotTagBytes = 256

// Snapshot is the caller's state of one aggregate after the commit at
// Version, in a schema the caller names with Tag (say "cart/v3"): a load
// asking for another tag ignores it. The store never interprets State.
type Snapshot struct {
	AggregateID string
	Version     int64
	Tag         string
	State       []byte
	// CommitID is version Version's CommitID, and SavedAt when the
	// snapshot was saved; SaveSnapshot sets both.
	CommitID string
	SavedAt  time.Time
}

// snapshotKey is the sort key of the snapshot at version v: below the
// metadata item's -1, the newest first in ascending order.
func snapshotKey(v int64) int64 { return -2 - v }

// SaveSnapshot saves snap, the caller's state of snap.AggregateID after the
// commit at snap.Version, and returns it with CommitID and SavedAt set. It
// reads that commit with one consistent GetItem, to check that it is
// stored, and writes one item (its own key, never a commit's, so it never
// conflicts with an append); a State larger than Config.OffloadAbove goes
// to Config.Offload first. Saving again at the same version replaces the
// snapshot there, whatever its tag. With Config.TTL, the snapshot expires
// with the commit it covers.
//
// Errors, all before any write: ErrInvalidCommit for a bad aggregate id
// (or one of the library's own, "$eventstore" or "$eventstore/..."), a
// negative version or 2^63-1, an empty, over 256-byte or non-UTF-8 tag,
// and for a version at which no commit is stored (or visible: expired);
// ErrCommitTooLarge for a State that does not fit in an item without
// Config.Offload, or over 64 MiB; ErrAggregateDeleted for a deleted
// aggregate; a DynamoDB or BlobStore error. It is safe for concurrent use.
func (s *Store) SaveSnapshot(ctx context.Context, snap Snapshot) (Snapshot, error) {
	ctx, t := s.observe(ctx, OpSaveSnapshot)
	snap, err := s.saveSnapshot(ctx, snap)
	return snap, s.done(ctx, t, 0, err)
}

func (s *Store) saveSnapshot(ctx context.Context, snap Snapshot) (Snapshot, error) {
	if err := snap.check(); err != nil {
		return snap, fmt.Errorf("%w: snapshot of aggregate %q version %d: %w", ErrInvalidCommit, snap.AggregateID, snap.Version, err)
	}
	if len(snap.State) > maxEventsBytes {
		return snap, fmt.Errorf("%w: snapshot of aggregate %q version %d: %d bytes of state, over the limit of %d",
			ErrCommitTooLarge, snap.AggregateID, snap.Version, len(snap.State), maxEventsBytes)
	}
	commit, err := s.snapshotCommit(ctx, snap.AggregateID, snap.Version)
	if err != nil {
		return snap, err
	}
	snap.CommitID, snap.SavedAt = commit.CommitID, s.cfg.now().Truncate(time.Millisecond)
	item, blob := s.snapshotItem(snap, commit)
	if size := itemSize(item); size > maxItemBytes {
		return snap, fmt.Errorf("%w: snapshot of aggregate %q version %d encodes to %d bytes, over DynamoDB's limit of %d (set Config.Offload)",
			ErrCommitTooLarge, snap.AggregateID, snap.Version, size, maxItemBytes)
	}
	if blob != nil {
		key, _ := stringAttr(item, attrEventsKey)
		if err := s.cfg.Offload.Put(ctx, key, blob); err != nil {
			return snap, fmt.Errorf("eventstore: snapshot of aggregate %q version %d: offload its state to %s: %w", snap.AggregateID, snap.Version, key, err)
		}
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.cfg.Table), Item: item}, s.opts...)
	if err != nil {
		return snap, fmt.Errorf("eventstore: save snapshot of aggregate %q version %d: %w", snap.AggregateID, snap.Version, err)
	}
	return snap, nil
}

// check returns the first problem of a snapshot to save.
func (snap *Snapshot) check() error {
	id := snap.AggregateID
	switch err := validateAggregateID(id); {
	case err != nil:
		return err
	case id == metaAggregateID || strings.HasPrefix(id, metaAggregateID+"/"):
		return fmt.Errorf("aggregate id %q is the library's own", id)
	case snap.Version < 0 || snap.Version == math.MaxInt64:
		return fmt.Errorf("version %d: want 0 to 2^63-2", snap.Version)
	case snap.Tag == "" || len(snap.Tag) > maxSnapshotTagBytes || !utf8.ValidString(snap.Tag):
		return fmt.Errorf("tag %q: want 1 to %d bytes of UTF-8", snap.Tag, maxSnapshotTagBytes)
	}
	return nil
}

// snapshotCommit reads the commit a snapshot at version covers: its
// CommitID and CommittedAt.
func (s *Store) snapshotCommit(ctx context.Context, aggregateID string, version int64) (Commit, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.cfg.Table),
		Key:                      keyOf(aggregateID, version),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#c, #d, #x"),
		ExpressionAttributeNames: map[string]string{"#c": attrCommitID, "#d": attrDeleted, "#x": attrExpiresAt},
	}, s.opts...)
	if err != nil {
		return Commit{}, fmt.Errorf("eventstore: snapshot of aggregate %q: read version %d: %w", aggregateID, version, err)
	}
	if isDeleted(out.Item) && !expired(out.Item, s.cfg.now()) {
		return Commit{}, deletedError(aggregateID, "snapshot it")
	}
	if out.Item[attrCommitID] == nil || expired(out.Item, s.cfg.now()) {
		return Commit{}, fmt.Errorf("%w: snapshot of aggregate %q version %d: no commit is stored at that version", ErrInvalidCommit, aggregateID, version)
	}
	id, err := stringAttr(out.Item, attrCommitID)
	ulid, err2 := parseCommitID(id)
	if err != nil || err2 != nil {
		return Commit{}, fmt.Errorf("%w: aggregate %q version %d: commit id %q", ErrCorruptCommit, aggregateID, version, id)
	}
	return Commit{AggregateID: aggregateID, Version: version, CommitID: id, CommittedAt: commitTime(ulid)}, nil
}

// snapshotItem is the item of snap, and the blob to offload its state to,
// if any.
func (s *Store) snapshotItem(snap Snapshot, commit Commit) (map[string]types.AttributeValue, []byte) {
	item := keyOf(snap.AggregateID, snapshotKey(snap.Version))
	item[attrSnapshotOf] = &types.AttributeValueMemberN{Value: strconv.FormatInt(snap.Version, 10)}
	item[attrSnapshotTag] = &types.AttributeValueMemberS{Value: snap.Tag}
	item[attrSnapshotCommit] = &types.AttributeValueMemberS{Value: snap.CommitID}
	item[attrSavedAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(snap.SavedAt.UnixMilli(), 10)}
	if s.cfg.TTL > 0 {
		item[attrExpiresAt] = expiresAt(commit.CommittedAt.Add(s.cfg.TTL))
	}
	if s.cfg.Offload != nil && len(snap.State) > s.cfg.OffloadAbove {
		maps.Copy(item, refAttributes(snapshotBlobKey(snap), snap.State))
		return item, snap.State
	}
	if len(snap.State) > 0 {
		item[attrState] = &types.AttributeValueMemberB{Value: snap.State}
	}
	return item, nil
}

// snapshotBlobKey names the blob of a snapshot's state, by its content,
// as blobKey does a commit's: a blob never changes.
func snapshotBlobKey(snap Snapshot) string {
	h := sha256.Sum256([]byte(snap.AggregateID))
	return "snapshots/" + hex.EncodeToString(h[:16]) + "/" + strconv.FormatInt(snap.Version, 10) + "/" + checksum(snap.State)[:32]
}

// DecodeSnapshot turns a snapshot item of the store's table, as a raw
// read returns it (see doc.go, "Snapshots"), into the Snapshot, its state
// fetched from Config.Offload if it was offloaded. It is for tools that
// read the table item by item (the CLI's verify).
//
// Errors: ErrNotCommit wrapped with a note for an item that is not a
// snapshot; ErrCorruptCommit, naming aggregate and version, for one that
// does not decode or whose offloaded state does not match its size and
// checksum; ErrBlobNotFound for offloaded state that is missing. It is
// safe for concurrent use.
func (s *Store) DecodeSnapshot(ctx context.Context, item map[string]types.AttributeValue) (Snapshot, error) {
	if !isSnapshotItem(item) {
		return Snapshot{}, fmt.Errorf("%w: not a snapshot", ErrNotCommit)
	}
	snap, ref, err := decodeSnapshot(item)
	if err != nil || ref == nil {
		return snap, err
	}
	return snap, s.fetchState(ctx, &snap, ref)
}

// decodeSnapshot decodes a snapshot item; ref, if not nil, says where its
// state is.
func decodeSnapshot(item map[string]types.AttributeValue) (Snapshot, *blobRef, error) {
	var snap Snapshot
	var err error
	fail := func(format string, args ...any) (Snapshot, *blobRef, error) {
		return Snapshot{}, nil, fmt.Errorf("%w: snapshot of aggregate %q version %d: %s",
			ErrCorruptCommit, snap.AggregateID, snap.Version, fmt.Sprintf(format, args...))
	}
	snap.AggregateID, _ = stringAttr(item, attrAggregateID)
	if snap.Version, err = numberAttr(item, attrSnapshotOf); err != nil {
		return fail("%v", err)
	}
	if key, err := numberAttr(item, attrVersion); err != nil || snap.Version < 0 || snap.Version == math.MaxInt64 || key != snapshotKey(snap.Version) {
		return fail("its key (version %s) is not the snapshot key of version %d", attrString(item, attrVersion), snap.Version)
	}
	if snap.Tag, err = stringAttr(item, attrSnapshotTag); err != nil {
		return fail("%v", err)
	}
	if snap.CommitID, err = stringAttr(item, attrSnapshotCommit); err == nil {
		_, err = parseCommitID(snap.CommitID)
	}
	if err != nil {
		return fail("%v", err)
	}
	ms, err := numberAttr(item, attrSavedAt)
	if err != nil {
		return fail("%v", err)
	}
	snap.SavedAt = time.UnixMilli(ms)
	ref, err := decodeRef(item)
	switch {
	case err != nil:
		return fail("%v", err)
	case ref != nil && item[attrState] != nil:
		return fail("both state and a pointer to offloaded state")
	case ref != nil:
		return snap, ref, nil
	case item[attrState] != nil:
		b, ok := item[attrState].(*types.AttributeValueMemberB)
		if !ok {
			return fail("%s: want a binary attribute, have %T", attrState, item[attrState])
		}
		snap.State = b.Value
	}
	return snap, nil, nil
}

// attrString is a number or string attribute as text, for messages.
func attrString(item map[string]types.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberS:
		return strconv.Quote(v.Value)
	}
	return fmt.Sprintf("%T", item[name])
}

// fetchState reads and checks the offloaded state of snap.
func (s *Store) fetchState(ctx context.Context, snap *Snapshot, ref *blobRef) error {
	fail := func(err error) error {
		return fmt.Errorf("eventstore: snapshot of aggregate %q version %d: offloaded state %s: %w", snap.AggregateID, snap.Version, ref.key, err)
	}
	data, err := s.readBlob(ctx, ref)
	if err != nil {
		return fail(err)
	}
	snap.State = data
	return nil
}

// newestSnapshot reads the aggregate's newest snapshot, whatever its tag,
// with one consistent Query of one item (the lowest sort key below -1);
// nil when there is none, or it expired (then so did every older one).
func (s *Store) newestSnapshot(ctx context.Context, aggregateID string) (*Snapshot, error) {
	in := s.versionsQuery(aggregateID, "<", -1)
	in.Limit = aws.Int32(1)
	out, err := s.client.Query(ctx, in, s.opts...)
	if err != nil {
		return nil, fmt.Errorf("eventstore: read the newest snapshot of aggregate %q: %w", aggregateID, err)
	}
	if len(out.Items) == 0 || expired(out.Items[0], s.cfg.now()) || !isSnapshotItem(out.Items[0]) {
		return nil, nil
	}
	snap, ref, err := decodeSnapshot(out.Items[0])
	if err != nil {
		return nil, err
	}
	if snap.AggregateID != aggregateID {
		return nil, fmt.Errorf("%w: snapshot of aggregate %q returned for aggregate %q", ErrCorruptCommit, snap.AggregateID, aggregateID)
	}
	if ref != nil {
		if err := s.fetchState(ctx, &snap, ref); err != nil {
			return nil, err
		}
	}
	return &snap, nil
}

// Loaded is an aggregate as Load reads it: the newest snapshot of the tag
// asked for, if usable, and the commits after it (every commit without
// one).
type Loaded struct {
	Snapshot *Snapshot
	Commits  []Commit
}

// Version is the version the loaded aggregate is at: its last commit's,
// the snapshot's without commits after it, -1 for an aggregate without
// commits.
func (l Loaded) Version() int64 {
	switch {
	case len(l.Commits) > 0:
		return l.Commits[len(l.Commits)-1].Version
	case l.Snapshot != nil:
		return l.Snapshot.Version
	}
	return -1
}

// Load reads an aggregate from its newest snapshot: one consistent Query
// of one item for the newest snapshot, and, when its tag is tag, one
// consistent Query of the commits after it (paged past 1 MB); when the
// newest snapshot has another tag, or there is none, it is ignored and
// every commit is read, from version 0. Snapshot is nil then.
//
// Errors: ErrInvalidCommit for a bad aggregate id or an empty tag, before
// any request; ErrAggregateDeleted for a deleted aggregate;
// ErrHistoryExpired when the commits a full replay needs were expired
// (see Expire); those of Query; ErrCorruptCommit for a snapshot that does
// not decode or offloaded state that does not match its checksum. It is
// safe for concurrent use.
func (s *Store) Load(ctx context.Context, aggregateID, tag string) (Loaded, error) {
	ctx, t := s.observe(ctx, OpLoad)
	l, err := s.load(ctx, aggregateID, tag)
	return l, s.done(ctx, t, len(l.Commits), err)
}

func (s *Store) load(ctx context.Context, aggregateID, tag string) (Loaded, error) {
	if err := validateAggregateID(aggregateID); err != nil {
		return Loaded{}, fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	if tag == "" {
		return Loaded{}, fmt.Errorf("%w: load aggregate %q: empty snapshot tag", ErrInvalidCommit, aggregateID)
	}
	snap, err := s.newestSnapshot(ctx, aggregateID)
	if err != nil {
		return Loaded{}, err
	}
	var l Loaded
	from := int64(0)
	if snap != nil && snap.Tag == tag {
		l.Snapshot, from = snap, snap.Version+1
	}
	for c, err := range s.query(ctx, aggregateID, from) {
		if err != nil {
			return Loaded{}, err
		}
		if len(l.Commits) == 0 && c.Version != from {
			return Loaded{}, s.expiredHistory(aggregateID, tag, from, c.Version, snap)
		}
		l.Commits = append(l.Commits, c)
	}
	return l, nil
}

func (s *Store) expiredHistory(aggregateID, tag string, from, first int64, newest *Snapshot) error {
	have := "none"
	if newest != nil {
		have = fmt.Sprintf("version %d with tag %q", newest.Version, newest.Tag)
	}
	return fmt.Errorf("%w: load aggregate %q with snapshot tag %q needs version %d, but the first commit stored is version %d (newest snapshot: %s)",
		ErrHistoryExpired, aggregateID, tag, from, first, have)
}

// LoadFold loads the state of an aggregate: from the newest snapshot of
// tag, decoded with decode, or from zero when there is none of that tag,
// applying every event after it with apply, as Fold does. It returns the
// state and the version it is at (-1 for an aggregate without commits),
// after the requests of Load.
//
// Errors: those of Load; decode's error and apply's (wrapped with the
// event's coordinates, as Fold does). It is safe for concurrent use if
// decode and apply are.
func LoadFold[S any](ctx context.Context, s *Store, aggregateID, tag string, decode func(Snapshot) (S, error),
	zero S, apply func(S, EventView) (S, error)) (S, int64, error) {
	l, err := s.Load(ctx, aggregateID, tag)
	if err != nil {
		return zero, -1, err
	}
	state := zero
	if l.Snapshot != nil {
		if state, err = decode(*l.Snapshot); err != nil {
			return zero, -1, fmt.Errorf("eventstore: decode the snapshot of aggregate %q version %d (tag %q): %w", aggregateID, l.Snapshot.Version, tag, err)
		}
	}
	state, err = Fold(l.history(), state, apply)
	return state, l.Version(), err
}

// history yields the loaded commits, ready for Fold.
func (l Loaded) history() iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		for _, c := range l.Commits {
			if !yield(c, nil) {
				return
			}
		}
	}
}

// UpdateFrom is Update for an aggregate with snapshots: each attempt
// loads it as Load does (the newest snapshot of tag and the commits after
// it, or every commit when there is none of that tag), and decide gets the
// snapshot (nil when there is none) with the commits after it. It appends
// and retries as Update does, with Update's errors and those of Load. It
// saves no snapshot: call SaveSnapshot when it suits (every 100 commits,
// say). It is safe for concurrent use.
func (s *Store) UpdateFrom(ctx context.Context, aggregateID, tag string,
	decide func(snap *Snapshot, history iter.Seq2[Commit, error]) ([]Event, error)) (Commit, error) {
	return s.update(ctx, aggregateID, func(ctx context.Context) (Commit, []Event, error) {
		l, err := s.Load(ctx, aggregateID, tag)
		if err != nil {
			return Commit{}, nil, err
		}
		var snap *Snapshot
		if l.Snapshot != nil {
			copied := *l.Snapshot
			snap = &copied
		}
		events, err := decide(snap, l.history())
		return nextCommit(aggregateID, l.Version(), events, err)
	})
}

// Snapshots yields the aggregate's snapshots, newest first, whatever
// their tags, with consistent reads, paged; expired ones are skipped. A
// tool's view (the CLI's cat -snapshots): a load reads only the newest.
//
// Errors (yielded once, ending the sequence): ErrInvalidCommit for a bad
// aggregate id, a DynamoDB error, and those of DecodeSnapshot. It is safe
// for concurrent use.
func (s *Store) Snapshots(ctx context.Context, aggregateID string) iter.Seq2[Snapshot, error] {
	return func(yield func(Snapshot, error) bool) {
		if err := validateAggregateID(aggregateID); err != nil {
			yield(Snapshot{}, fmt.Errorf("%w: %w", ErrInvalidCommit, err))
			return
		}
		in := s.versionsQuery(aggregateID, "<", -1)
		for page, err := range s.pages(ctx, in) {
			if err != nil {
				yield(Snapshot{}, fmt.Errorf("eventstore: snapshots of aggregate %q: %w", aggregateID, err))
				return
			}
			for _, item := range page {
				if expired(item, s.cfg.now()) || !isSnapshotItem(item) {
					continue
				}
				snap, err := s.DecodeSnapshot(ctx, item)
				if !yield(snap, err) || err != nil {
					return
				}
			}
		}
	}
}
