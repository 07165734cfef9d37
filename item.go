package eventstore

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The item: every attribute name of the table's items (commits, fences,
// the metadata item, offload references), their keys, a Commit to its item
// and back, the link to the previous version, and the recognition of the
// items that are not commits. See doc.go, "Table layout".

// Attribute names of a commit item (see the table layout in doc.go).
const (
	attrAggregateID = "aggregateId"
	attrVersion     = "version"
	attrCommitID    = "commitId"
	attrCommittedAt = "committedAt"
	attrEvents      = "events"
	attrMetadata    = "metadata"
	attrShard       = "shard"
	// attrAggregateShard is on version-0 commits only: the shard again, as
	// the partition key of the sparse aggregates index.
	attrAggregateShard = "aggregateShard"
	// attrExpiresAt, with Config.TTL, is when DynamoDB may delete the
	// commit (unix seconds).
	attrExpiresAt = "expiresAt"
)

// The table records its scan shard count in a metadata item at version -1
// of a reserved aggregate: no commit can have a negative version, Query
// starts at 0, and the item has no commitId, so no read ever yields it.
const (
	metaAggregateID = "$eventstore"
	metaVersion     = "-1"
	attrScanShards  = "scanShards"
)

// The writer deadline lives in the table: its metadata item
// records, beside scanShards, the writer deadline maxCommitLatency (N,
// milliseconds) of the first store that used the table. Readers need it:
// a reader's settle window must cover the WRITERS' deadline plus
// SettleAllowance, whatever the reader's own Config.MaxCommitLatency, or
// it may pass a commit's time before the commit lands and skip it for
// good. So every store checks it once, like the shard count: a writer
// whose deadline exceeds the recorded one is refused for writes, and a
// reader whose settle window is shorter than recorded + SettleAllowance
// is refused at its first Scan or Tail (WithSettle(0) excepted: the
// documented "everything visible now" opt-out). The metadata item of a
// table made by an older version records no deadline: the first writer
// adds its own; readers never write it, they assume their own and read
// the item again at each Scan, Tail or Aggregates until a writer has.
const attrMaxLatency = "maxCommitLatency"

// attrPrev, on every commit at a version n > 0 that Append, AppendAll or
// AppendNext stores, is the CommitID of version n-1 of the same aggregate
// (S). Items stored before it existed have none and read back alike.
const attrPrev = "prev"

// A fence makes a late refusal final. When a write's deadline passes, an
// attempt may still be on its way to DynamoDB; a read that finds the key
// empty cannot promise that the commit never lands. So the store settles
// with a conditional update instead: unless a commit holds the key, it adds
// the CommitID to the key's refused set, creating a fence item (the key and
// refused, no commitId). Every put of a commit is conditioned on the key
// being free or fenced against other CommitIDs only, so the refused
// commit's late attempt fails, while a new commit at that version replaces
// the fence. A fence is never yielded: Query and LatestVersion skip it, and
// it has no attribute of the scan or aggregates indexes.
const attrRefused = "refused"

// A snapshot (see doc.go, "Snapshots") of an aggregate at version v is an
// item in the aggregate's partition at version -2-v (below the metadata's
// -1, newest first in ascending order), with neither commitId nor shard,
// so that no index holds it and Query (versions from 0) never reads it.
// Its state is inline, or offloaded with the attributes of offloaded
// events.
const (
	attrSnapshotOf     = "snapshotOf"     // N: the aggregate version v
	attrSnapshotTag    = "snapshotTag"    // S: the caller's schema tag
	attrSnapshotCommit = "snapshotCommit" // S: version v's CommitID
	attrState          = "state"          // B: the state, absent when empty or offloaded
	attrSavedAt        = "savedAt"        // N: unix milliseconds
)

// attrDeleted (BOOL true) marks the two items Store.Delete writes: the
// tombstone commit, and the guard after it, at the tombstone's version
// + 1, without commitId, which holds the next version's key so that no
// append lands after the tombstone. See doc.go, "Deleting and expiring an
// aggregate".
const attrDeleted = "deleted"

// Attributes of an offloaded commit, in place of events.
const (
	attrEventsKey  = "eventsKey"  // S: the blob's key
	attrEventsSize = "eventsSize" // N: its length in bytes
	attrEventsSum  = "eventsSum"  // S: hex SHA-256 of its bytes
)

func keyOf(aggregateID string, version int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrAggregateID: &types.AttributeValueMemberS{Value: aggregateID},
		attrVersion:     &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)},
	}
}

// commitKey identifies a commit within a live Tail: its CommitID, and its
// aggregate, since caller-set CommitIDs may be shared by commits of
// several aggregates.
type commitKey struct{ id, aggregate string }

func keyOfCommit(c Commit) commitKey { return commitKey{c.CommitID, c.AggregateID} }

// itemKey is the commitKey of a raw item, false for an item without the
// attributes (a fence; decodePage reports a corrupt one).
func itemKey(item map[string]types.AttributeValue) (commitKey, bool) {
	id, ok1 := item[attrCommitID].(*types.AttributeValueMemberS)
	agg, ok2 := item[attrAggregateID].(*types.AttributeValueMemberS)
	if !ok1 || !ok2 {
		return commitKey{}, false
	}
	return commitKey{id.Value, agg.Value}, true
}

// commitItem is the item of a commit whose events are encoded already.
func commitItem(c Commit, shard int, events types.AttributeValue) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrAggregateID: &types.AttributeValueMemberS{Value: c.AggregateID},
		attrVersion:     &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)},
		attrCommitID:    &types.AttributeValueMemberS{Value: c.CommitID},
		attrCommittedAt: &types.AttributeValueMemberN{Value: strconv.FormatInt(c.CommittedAt.UnixMilli(), 10)},
		attrShard:       &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
		attrEvents:      events,
	}
	if len(c.Metadata) > 0 {
		item[attrMetadata] = encodeStringMap(c.Metadata)
	}
	return item
}

// decodeStored turns an item read from the table into a Commit. It never
// panics: whatever is wrong gives an error wrapping ErrCorruptCommit that
// names the aggregate and version as far as they could be read. When the
// item's events are offloaded, the Commit has no events yet, and the ref
// says where they are.
func decodeStored(item map[string]types.AttributeValue) (Commit, *blobRef, error) {
	var c Commit
	var err error
	fail := func(format string, args ...any) (Commit, *blobRef, error) {
		return Commit{}, nil, fmt.Errorf("%w: aggregate %q version %d: %s",
			ErrCorruptCommit, c.AggregateID, c.Version, fmt.Sprintf(format, args...))
	}
	if c.AggregateID, err = stringAttr(item, attrAggregateID); err != nil {
		return fail("%v", err)
	}
	if err := validateAggregateID(c.AggregateID); err != nil {
		return fail("%v", err)
	}
	if c.Version, err = numberAttr(item, attrVersion); err != nil {
		return fail("%v", err)
	}
	if c.Version < 0 {
		return fail("%v", errNegativeVersion)
	}
	if c.CommitID, err = stringAttr(item, attrCommitID); err != nil {
		return fail("%v", err)
	}
	id, err := parseCommitID(c.CommitID)
	if err != nil {
		return fail("%v", err)
	}
	c.CommittedAt = commitTime(id)
	if ms, err := numberAttr(item, attrCommittedAt); err != nil || ms != c.CommittedAt.UnixMilli() {
		return fail("committedAt does not match commit id %s", c.CommitID)
	}
	if err := checkPrev(item, c); err != nil {
		return fail("%v", err)
	}
	if c.Metadata, err = decodeStringMap(item[attrMetadata]); err != nil {
		return fail("metadata: %v", err)
	}
	ref, err := decodeRef(item)
	switch {
	case err != nil:
		return fail("%v", err)
	case ref != nil && item[attrEvents] != nil:
		return fail("both events and a pointer to offloaded events")
	case ref != nil:
		return c, ref, nil
	}
	if c.Events, err = decodeEvents(item[attrEvents]); err != nil {
		return fail("%v", err)
	}
	return c, nil, nil
}

func encodeStringMap(m map[string]string) types.AttributeValue {
	av := make(map[string]types.AttributeValue, len(m))
	for k, v := range m {
		av[k] = &types.AttributeValueMemberS{Value: v}
	}
	return &types.AttributeValueMemberM{Value: av}
}

func decodeStringMap(av types.AttributeValue) (map[string]string, error) {
	if av == nil {
		return nil, nil
	}
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("attribute of type %T", av)
	}
	if len(m.Value) == 0 {
		return nil, nil // as the encoder omits it
	}
	out := make(map[string]string, len(m.Value))
	for k, v := range m.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("key %q: attribute of type %T", k, v)
		}
		out[k] = s.Value
	}
	if err := validateMetadata(out, false); err != nil {
		return nil, err
	}
	return out, nil
}

func stringAttr(item map[string]types.AttributeValue, name string) (string, error) {
	s, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", fmt.Errorf("%s: want a string attribute, have %T", name, item[name])
	}
	return s.Value, nil
}

func numberAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("%s: want a number attribute, have %T", name, item[name])
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", name, err)
	}
	return v, nil
}

// linkItem adds the predecessor's CommitID to a commit's item, and checks
// its size again.
func linkItem(c Commit, item map[string]types.AttributeValue, prev string) error {
	if prev == "" {
		return nil
	}
	item[attrPrev] = &types.AttributeValueMemberS{Value: prev}
	return checkItemSize(c, item)
}

// prevOf returns the predecessor CommitID an item records: "" for
// version 0 and for items stored before the attribute existed.
func prevOf(item map[string]types.AttributeValue) (string, error) {
	if item[attrPrev] == nil {
		return "", nil
	}
	prev, err := stringAttr(item, attrPrev)
	if err != nil {
		return "", err
	}
	_, err = parseCommitID(prev)
	return prev, err
}

// checkPrev checks the predecessor CommitID an item of commit c records,
// if any: a ULID smaller than c's own, on a version above 0.
func checkPrev(item map[string]types.AttributeValue, c Commit) error {
	prev, err := prevOf(item)
	switch {
	case err != nil:
		return err
	case prev != "" && (c.Version == 0 || prev >= c.CommitID):
		return fmt.Errorf("%s %s does not precede commit id %s at version %d", attrPrev, prev, c.CommitID, c.Version)
	}
	return nil
}

// isFence reports whether item is a fence, not a commit.
func isFence(item map[string]types.AttributeValue) bool {
	_, commit := item[attrCommitID]
	_, refused := item[attrRefused]
	return !commit && refused
}

// refused reports whether item is a fence that refused commitID.
func refused(item map[string]types.AttributeValue, commitID string) bool {
	ss, ok := item[attrRefused].(*types.AttributeValueMemberSS)
	return ok && isFence(item) && slices.Contains(ss.Value, commitID)
}

// blobRef points from an item to its offloaded events.
type blobRef struct {
	key  string
	size int64
	sum  string
}

// refAttributes are the item attributes that point to an offloaded payload.
func refAttributes(key string, payload []byte) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrEventsKey:  &types.AttributeValueMemberS{Value: key},
		attrEventsSize: &types.AttributeValueMemberN{Value: strconv.Itoa(len(payload))},
		attrEventsSum:  &types.AttributeValueMemberS{Value: checksum(payload)},
	}
}

// decodeRef reads the pointer of an offloaded item; nil if it has none.
func decodeRef(item map[string]types.AttributeValue) (*blobRef, error) {
	if _, ok := item[attrEventsKey]; !ok {
		return nil, nil
	}
	key, err := stringAttr(item, attrEventsKey)
	if err != nil {
		return nil, err
	}
	size, err := numberAttr(item, attrEventsSize)
	if err != nil {
		return nil, err
	}
	if size < 0 || size > maxBlobBytes {
		return nil, fmt.Errorf("%s %d: no blob the store writes has it", attrEventsSize, size)
	}
	sum, err := stringAttr(item, attrEventsSum)
	if err != nil {
		return nil, err
	}
	return &blobRef{key: key, size: size, sum: sum}, nil
}

// notCommit returns an error matching ErrNotCommit for an item that holds
// no commit: a fence, or the library's own items, at a negative version of
// the aggregate "$eventstore" or of one whose id starts "$eventstore/" (the
// table's metadata, a notifier relay's checkpoint); nil for any other.
func notCommit(item map[string]types.AttributeValue) error {
	if id, _ := stringAttr(item, attrAggregateID); id == metaAggregateID || strings.HasPrefix(id, metaAggregateID+"/") {
		if v, err := numberAttr(item, attrVersion); err == nil && v < 0 {
			return fmt.Errorf("%w: the library's item %q version %d (the table's metadata, a relay's checkpoint)", ErrNotCommit, id, v)
		}
	}
	if isFence(item) {
		return fmt.Errorf("%w: a fence (a key that refused a late commit)", ErrNotCommit)
	}
	return notCommitOfAggregate(item)
}

// expiresAt is the expiresAt attribute of an item that expires at t: unix
// seconds, as DynamoDB's Time to Live reads it.
func expiresAt(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// expired reports whether item has expired at now: reads skip it, as if
// DynamoDB's Time to Live had removed it already (its sweep may take
// days). An expiresAt that does not parse is not expired: the item then
// reads as it is (a commit's decoder ignores the attribute).
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	if item[attrExpiresAt] == nil {
		return false
	}
	at, err := numberAttr(item, attrExpiresAt)
	return err == nil && at <= now.Unix()
}

// isGuard reports whether item is the guard Delete writes after a
// tombstone.
func isGuard(item map[string]types.AttributeValue) bool {
	_, commit := item[attrCommitID]
	_, deleted := item[attrDeleted]
	return deleted && !commit
}

// isDeleted reports whether item is the tombstone or the guard of a
// deleted aggregate.
func isDeleted(item map[string]types.AttributeValue) bool {
	b, ok := item[attrDeleted].(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}

// deletedIn returns ErrAggregateDeleted if a page of the aggregate's items
// holds its tombstone or guard, unexpired.
func deletedIn(page []map[string]types.AttributeValue, aggregateID string, now time.Time) error {
	for _, item := range page {
		if isDeleted(item) && !expired(item, now) {
			return deletedError(aggregateID, "read it")
		}
	}
	return nil
}

func deletedError(aggregateID, what string) error {
	return fmt.Errorf("%w: aggregate %q: cannot %s", ErrAggregateDeleted, aggregateID, what)
}

// notCommitOfAggregate returns an error matching ErrNotCommit for the
// items of an aggregate that are not commits: a snapshot, a deletion
// guard; nil for any other.
func notCommitOfAggregate(item map[string]types.AttributeValue) error {
	id, _ := stringAttr(item, attrAggregateID)
	switch {
	case isSnapshotItem(item):
		of, _ := numberAttr(item, attrSnapshotOf)
		tag, _ := stringAttr(item, attrSnapshotTag)
		return fmt.Errorf("%w: a snapshot of aggregate %q at version %d (tag %q); see Store.DecodeSnapshot", ErrNotCommit, id, of, tag)
	case isGuard(item):
		v, _ := numberAttr(item, attrVersion)
		return fmt.Errorf("%w: the guard of deleted aggregate %q after its tombstone at version %d", ErrNotCommit, id, v-1)
	}
	return nil
}

// stringOr is a string attribute of item, "" if it has none.
func stringOr(item map[string]types.AttributeValue, name string) string {
	s, _ := stringAttr(item, name)
	return s
}

// isSnapshotItem reports whether item is a snapshot.
func isSnapshotItem(item map[string]types.AttributeValue) bool {
	_, tag := item[attrSnapshotTag]
	_, commit := item[attrCommitID]
	return tag && !commit
}
