package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Deleting one aggregate: a tombstone commit, the guard after it, and the
// expiry of everything before it. See doc.go, "Deleting and expiring an
// aggregate".

// TombstoneType is the type of the one event of the commit Delete appends
// to an aggregate: Scan and Tail yield it like any commit, so that a
// projection learns of the deletion (see Commit.IsTombstone). The event has
// no data; the commit's metadata is Delete's. A caller's own event of this
// type deletes nothing: Delete marks its tombstone in the item.
const TombstoneType = "$eventstore.deleted"

// IsTombstone reports whether c is the commit Delete appended to delete its
// aggregate: one event of TombstoneType.
func (c Commit) IsTombstone() bool {
	return len(c.Events) == 1 && c.Events[0].Type == TombstoneType
}

// Delete deletes an aggregate. It appends a tombstone commit (one event of
// TombstoneType, with metadata, if any, as its commit metadata) after the
// aggregate's latest commit, which Scan, Tail and the relay yield once like
// any commit; then it makes every other item of the aggregate (its
// commits, its snapshots) expire now, so that no read sees them; last it
// writes a guard at the version after the tombstone. From then on Query
// and the loads yield ErrAggregateDeleted, and every append and snapshot
// is refused with it. The tombstone and the guard expire keep after the
// tombstone's CommittedAt; keep must be at least Config.Settle, so that a
// strict Tail yields the tombstone before it expires. DynamoDB's Time to
// Live then removes the items, and the aggregate id is free again (see
// doc.go, "Deleting and expiring an aggregate": with the table's Time to
// Live off, nothing is ever removed). It returns the tombstone.
//
// Delete writes one commit and then one UpdateItem per other item of the
// aggregate. If it fails after the tombstone is stored, call it again: it
// finds the tombstone, finishes the work, and returns the tombstone.
//
// Errors: ErrInvalidCommit before any request for a bad aggregate id or
// metadata, or keep under Config.Settle, and, nothing written, for an
// aggregate without commits; ErrAggregateDeleted, nothing written, when
// the aggregate is deleted already; the errors of Append for the tombstone
// (a *VersionConflictError when another writer appended first: call Delete
// again); a DynamoDB error while expiring (the tombstone is stored: call
// Delete again). It is safe for concurrent use.
func (s *Store) Delete(ctx context.Context, aggregateID string, keep time.Duration, metadata map[string]string) (Commit, error) {
	ctx, t := s.observe(ctx, OpDelete)
	c, err := s.delete(ctx, aggregateID, keep, metadata)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) delete(ctx context.Context, aggregateID string, keep time.Duration, metadata map[string]string) (Commit, error) {
	if keep < s.cfg.Settle {
		return Commit{}, fmt.Errorf("%w: delete aggregate %q: keep %v is under Config.Settle %v: a strict Tail could miss the tombstone",
			ErrInvalidCommit, aggregateID, keep, s.cfg.Settle)
	}
	c := Commit{AggregateID: aggregateID, Events: []Event{{Type: TombstoneType}}, Metadata: metadata}
	if err := c.validate(); err != nil {
		return Commit{}, err
	}
	top, err := s.topItem(ctx, aggregateID)
	if err != nil {
		return Commit{}, err
	}
	switch {
	case top == nil:
		return Commit{}, fmt.Errorf("%w: delete aggregate %q: it has no commits", ErrInvalidCommit, aggregateID)
	case isGuard(top):
		return Commit{}, deletedError(aggregateID, "delete it again")
	case top[attrDeleted] != nil: // a tombstone whose Delete did not finish
		if c, err = s.decodeTombstone(top); err != nil {
			return Commit{}, err
		}
	default:
		if c, err = s.appendTombstone(ctx, c, top, keep); err != nil {
			return c, err
		}
	}
	if err := s.expireItems(ctx, aggregateID, s.cfg.now(), func(item map[string]types.AttributeValue) bool {
		v, _ := numberAttr(item, attrVersion)
		return v != c.Version
	}); err != nil {
		return c, fmt.Errorf("eventstore: delete aggregate %q: the tombstone is stored at version %d; expiring the other items failed (call Delete again): %w",
			aggregateID, c.Version, err)
	}
	return c, s.putGuard(ctx, c, keep)
}

// appendTombstone stores the tombstone c after top, the aggregate's latest
// commit, as Append would, marked deleted and expiring keep after it.
func (s *Store) appendTombstone(ctx context.Context, c Commit, top map[string]types.AttributeValue, keep time.Duration) (Commit, error) {
	v, err := numberAttr(top, attrVersion)
	if err == nil && v == 1<<63-1 {
		err = errNoNextVersion
	}
	prev, err2 := stringAttr(top, attrCommitID)
	if err = errors.Join(err, err2); err != nil {
		return c, fmt.Errorf("%w: delete aggregate %q: latest commit: %v", ErrCorruptCommit, c.AggregateID, err)
	}
	c.Version = v + 1
	p, err := s.prepare(&c)
	if err == nil {
		err = follow(&c, prev, true)
	}
	if err != nil {
		return c, err
	}
	enc, err := s.stage(ctx, c, p, prev, s.checkWriter)
	if err != nil {
		return c, err
	}
	enc.item[attrDeleted] = &types.AttributeValueMemberBOOL{Value: true}
	enc.item[attrExpiresAt] = expiresAt(c.CommittedAt.Add(keep))
	if err := s.put(ctx, c, enc.item); err != nil {
		s.dropBlobs(ctx, err, nil, enc)
		return c, err
	}
	// Not into the lastSeen cache: no append may follow the tombstone.
	c.LandedLate = s.cfg.now().After(c.CommittedAt.Add(s.cfg.MaxCommitLatency))
	return c, s.notify(ctx, c)
}

// decodeTombstone reads the tombstone commit item a Delete left.
func (s *Store) decodeTombstone(item map[string]types.AttributeValue) (Commit, error) {
	c, ref, err := decodeStored(item)
	if err == nil && (ref != nil || !c.IsTombstone()) {
		err = fmt.Errorf("%w: aggregate %q version %d is marked %s but is not a tombstone", ErrCorruptCommit, c.AggregateID, c.Version, attrDeleted)
	}
	return c, err
}

// putGuard writes the guard after the tombstone c: a key no commit can
// take (see put and heldBy). It replaces a fence, never a commit.
func (s *Store) putGuard(ctx context.Context, c Commit, keep time.Duration) error {
	item := keyOf(c.AggregateID, c.Version+1)
	item[attrDeleted] = &types.AttributeValueMemberBOOL{Value: true}
	item[attrExpiresAt] = expiresAt(c.CommittedAt.Add(keep))
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.cfg.Table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#c)"),
		ExpressionAttributeNames: map[string]string{"#c": attrCommitID},
	}, s.opts...)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) { // a commit after the tombstone: only a store that does not know of deletion writes one
		return fmt.Errorf("%w: delete aggregate %q: a commit holds version %d, after the tombstone at version %d",
			ErrCorruptCommit, c.AggregateID, c.Version+1, c.Version)
	}
	if err != nil {
		return fmt.Errorf("eventstore: delete aggregate %q: write the guard at version %d (call Delete again): %w", c.AggregateID, c.Version+1, err)
	}
	return nil
}

// topItem returns the item of the aggregate's highest version, whole, past
// any fence; nil if it has none.
func (s *Store) topItem(ctx context.Context, aggregateID string) (map[string]types.AttributeValue, error) {
	in := s.versionsQuery(aggregateID, ">=", 0)
	in.ScanIndexForward, in.Limit = aws.Bool(false), aws.Int32(1)
	for page, err := range s.pages(ctx, in) {
		if err != nil {
			return nil, fmt.Errorf("eventstore: latest item of aggregate %q: %w", aggregateID, err)
		}
		for _, item := range page {
			if isGuard(item) || !isFence(item) {
				return item, nil
			}
		}
	}
	return nil, nil
}

// Retention says which commits of an aggregate Expire expires: those at a
// version below BeforeVersion, and those committed more than OlderThan
// ago; zero means no such bound.
type Retention struct {
	BeforeVersion int64
	OlderThan     time.Duration
}

// Expire expires the commits of an aggregate that r names, and every
// snapshot older than the newest: they expire now, so no read sees them
// from then on, and DynamoDB's Time to Live removes them. It never expires
// the newest snapshot, the commits after it, or the latest commit, so that
// loads (Load, LoadFold, UpdateFrom) and appends go on as before: an
// OlderThan bound stops there; a BeforeVersion past the newest snapshot's
// version + 1 is refused. Query from version 0 then starts at the first
// commit kept. It returns how many commits it expired.
//
// Expire reads the newest snapshot and the latest version (two Query
// requests), the keys of the items to expire (one Query page per 1 MB),
// and sends one UpdateItem per item (a commit's update also writes the
// scan index).
//
// Errors: ErrInvalidCommit before any write for a bad aggregate id, a
// negative or zero Retention, an aggregate without a snapshot (expiring
// its commits would lose its state), or a BeforeVersion past the newest
// snapshot's version + 1; ErrAggregateDeleted for a deleted aggregate; a
// DynamoDB error (some items may have expired: call Expire again). It is
// safe for concurrent use.
func (s *Store) Expire(ctx context.Context, aggregateID string, r Retention) (int, error) {
	ctx, t := s.observe(ctx, OpExpire)
	n, err := s.expire(ctx, aggregateID, r)
	return n, s.done(ctx, t, 0, err)
}

func (s *Store) expire(ctx context.Context, aggregateID string, r Retention) (int, error) {
	fail := func(format string, args ...any) (int, error) {
		return 0, fmt.Errorf("%w: expire aggregate %q: %s", ErrInvalidCommit, aggregateID, fmt.Sprintf(format, args...))
	}
	if r.BeforeVersion < 0 || r.OlderThan < 0 || r == (Retention{}) {
		return fail("retention %+v: want BeforeVersion or OlderThan positive, neither negative", r)
	}
	if err := validateAggregateID(aggregateID); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidCommit, err)
	}
	latest, _, err := s.latest(ctx, aggregateID)
	if err != nil {
		return 0, err
	}
	snap, err := s.newestSnapshot(ctx, aggregateID)
	if err != nil {
		return 0, err
	}
	if snap == nil {
		return fail("it has no snapshot, and a load needs every commit")
	}
	limit := min(snap.Version+1, latest) // the first version kept, at most
	if r.BeforeVersion > limit {
		return fail("version %d is past the newest snapshot's (version %d, tag %q) + 1, or the latest commit (version %d)",
			r.BeforeVersion, snap.Version, snap.Tag, latest)
	}
	if r.BeforeVersion > 0 {
		limit = r.BeforeVersion
	}
	now := s.cfg.now()
	ageLimit := now.Add(-r.OlderThan).UnixMilli()
	n := 0
	err = s.expireItems(ctx, aggregateID, now, func(item map[string]types.AttributeValue) bool {
		v, _ := numberAttr(item, attrVersion)
		if v < 0 {
			of, err := numberAttr(item, attrSnapshotOf)
			return isSnapshotItem(item) && err == nil && of < snap.Version
		}
		at, err := numberAttr(item, attrCommittedAt)
		if v >= limit || err != nil || (r.OlderThan > 0 && at >= ageLimit) {
			return false
		}
		n++
		return true
	})
	return n, err
}

// expireItems makes every item of the aggregate that pick chooses, and
// that expires later or never, expire at, one UpdateItem each, in
// parallel. An item removed meanwhile is skipped.
func (s *Store) expireItems(ctx context.Context, aggregateID string, at time.Time, pick func(map[string]types.AttributeValue) bool) error {
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.cfg.Table),
		ConsistentRead:           aws.Bool(true),
		KeyConditionExpression:   aws.String("#a = :a"),
		ProjectionExpression:     aws.String("#v, #x, #t, #o, #g, #c"),
		ExpressionAttributeNames: map[string]string{"#a": attrAggregateID, "#v": attrVersion, "#x": attrExpiresAt, "#t": attrCommittedAt, "#o": attrSnapshotOf, "#g": attrSnapshotTag, "#c": attrCommitID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": &types.AttributeValueMemberS{Value: aggregateID},
		},
	}
	var keys []map[string]types.AttributeValue
	for page, err := range s.pages(ctx, in) {
		if err != nil {
			return fmt.Errorf("eventstore: read the items of aggregate %q: %w", aggregateID, err)
		}
		for _, item := range page {
			if !expired(item, at) && pick(item) {
				v, _ := numberAttr(item, attrVersion)
				keys = append(keys, keyOf(aggregateID, v))
			}
		}
	}
	return inParallel(ctx, len(keys), func(ctx context.Context, i int) error {
		return s.expireItem(ctx, keys[i], at)
	})
}

// expireItem sets the expiry of the item at key to at, unless it is gone
// or expires sooner.
func (s *Store) expireItem(ctx context.Context, key map[string]types.AttributeValue, at time.Time) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.cfg.Table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #x = :t"),
		ConditionExpression:       aws.String("attribute_exists(#a) AND (attribute_not_exists(#x) OR #x > :t)"),
		ExpressionAttributeNames:  map[string]string{"#a": attrAggregateID, "#x": attrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": expiresAt(at)},
	}, s.opts...)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil
	}
	return err
}
