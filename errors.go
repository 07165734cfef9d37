package eventstore

import (
	"errors"
	"fmt"
)

// Errors returned by the store. The rule: a sentinel is exported only when
// a caller can act on it differently from any other error (retry with a new
// CommitID, reload and decide again, split a batch, skip a record, fix the
// table). Every problem of the caller's input, which the caller can only fix
// in its code, matches the one ErrInvalidCommit, and its message says the
// precise reason. Validation errors are returned before any request is
// sent, so nothing is written; match them with errors.Is.
var (
	// ErrInvalidCommit reports input the store refuses before sending any
	// request: a commit (or AppendAll's batch, or a read's aggregate id and
	// version) with an empty, over-long (2,048 bytes) or non-UTF-8
	// aggregate id, a negative version, no events, an event without type,
	// event data that is not JSON the store keeps byte for byte, text that
	// is not UTF-8, an empty commit metadata key, a CommitID that is not a
	// canonical ULID, or an AppendAll without commits or with two commits
	// for one version or CommitID. The message says which.
	ErrInvalidCommit = errors.New("eventstore: invalid commit")
	// ErrInvalidCommitID reports a scan checkpoint (Scan's or Tail's after)
	// that is not a ULID in its canonical 26-character form, or the largest
	// ULID.
	ErrInvalidCommitID = errors.New("eventstore: invalid commit id")
	// ErrCommitTooLarge reports a commit whose encoded item exceeds
	// DynamoDB's 400 KB item limit, or whose events exceed
	// Config.MaxCommitBytes; the size is measured before sending.
	ErrCommitTooLarge = errors.New("eventstore: commit too large")
	// ErrTransactionTooLarge reports an AppendAll over DynamoDB's limits of
	// one transaction: 100 commits, 4 MB of items (measured before
	// sending). Split the batch.
	ErrTransactionTooLarge = errors.New("eventstore: too many commits for one transaction")
	// ErrVersionConflict is matched by every *VersionConflictError.
	ErrVersionConflict = errors.New("eventstore: version conflict")
	// ErrAggregateExists reports an AppendNew of an aggregate that has
	// commits already; the error also holds a *VersionConflictError.
	ErrAggregateExists = errors.New("eventstore: aggregate exists already")
	// ErrCommitDeadline reports an Append whose commit did not land before
	// its writer deadline (Config.MaxCommitLatency after its CommitID's
	// time): it is NOT stored, and never will be. Retry with a new
	// CommitID (clear Commit.CommitID), after reloading the aggregate.
	ErrCommitDeadline = errors.New("eventstore: commit deadline passed, commit not stored")
	// ErrCorruptCommit reports an item in the table that does not decode
	// as a commit; the wrapping error names the aggregate and version.
	ErrCorruptCommit = errors.New("eventstore: corrupt commit item")
	// ErrBlobNotFound reports offloaded events that are missing from
	// Config.Offload; the wrapping error names aggregate, version and key.
	// BlobStore implementations wrap it for a missing key.
	ErrBlobNotFound = errors.New("eventstore: offloaded events not found")
	// ErrShardMismatch reports a store whose ScanShards differs from the
	// count the table was created with: its writes would land in shards
	// other readers do not read, so every operation refuses to run.
	ErrShardMismatch = errors.New("eventstore: scan shard count differs from the table's")
	// ErrTableMismatch reports an existing table or index whose key schema
	// or settings are not the ones the store needs, or whose metadata item
	// (the recorded shard count) is unreadable.
	ErrTableMismatch = errors.New("eventstore: table does not match the store's schema")
	// ErrNoAggregatesIndex reports Aggregates on a store without
	// Config.AggregatesIndex.
	ErrNoAggregatesIndex = errors.New("eventstore: no aggregates index configured")
	// ErrNotCommit reports a stream image that is not a commit: no image
	// (a REMOVE record, or a stream without new images), a keys-only image,
	// the table's metadata item, or an item another program wrote. Skip it.
	ErrNotCommit = errors.New("eventstore: stream image is not a commit")
	// ErrVersionGap is matched by every *VersionGapError: an append at a
	// version whose predecessor is not stored. It does not match
	// ErrVersionConflict: nobody wrote first, the caller skipped versions.
	ErrVersionGap = errors.New("eventstore: version gap")
	// ErrSettleMismatch reports a store whose writer deadline
	// (Config.MaxCommitLatency) exceeds the one the table records, on its
	// first write, or whose settle window does not cover the recorded
	// deadline plus SettleAllowance, on its first Scan or Tail: either
	// would let a reader skip a commit for good. See doc.go, "Settle
	// window".
	ErrSettleMismatch = errors.New("eventstore: settle rules differ from the table's")
	// ErrEventsOffloaded reports a stream image (ParseImage) of a commit
	// whose events are in Config.Offload: read it with Store.Query.
	ErrEventsOffloaded = errors.New("eventstore: the commit's events are offloaded; read it through a Store")
)

// The precise reasons of ErrInvalidCommit, and the errors of programming
// mistakes no caller branches on. Unexported: tests match them.
var (
	errEmptyAggregateID   = errors.New("empty aggregate id")
	errAggregateIDTooLong = errors.New("aggregate id over 2048 bytes")
	errNegativeVersion    = errors.New("negative version")
	errNoEvents           = errors.New("commit has no events")
	errEmptyEventType     = errors.New("event has no type")
	// errInvalidEventData: not valid JSON (UTF-8 text, RFC 8259), or with
	// whitespace around its value, which the store would not keep.
	errInvalidEventData = errors.New("event data is not valid JSON")
	// errInvalidUTF8: DynamoDB and JSON would replace the bad bytes.
	errInvalidUTF8      = errors.New("text is not valid UTF-8")
	errEmptyMetadataKey = errors.New("commit metadata has an empty key")
	errNotULID          = errors.New("not a ULID in canonical form")
	errNoCommits        = errors.New("no commits to append")
	errDuplicateCommit  = errors.New("two commits for the same version or with the same commit id")

	errNegativeSettle = errors.New("eventstore: negative settle window")
	// errLiveScan: Live is Tail's option; a Scan ends, so it reads the
	// settled log only.
	errLiveScan   = errors.New("eventstore: Live is an option of Tail, not of Scan")
	errNotBlobKey = errors.New("eventstore: not a key of offloaded events")
)

// VersionGapError reports an append at Version of AggregateID whose
// predecessor (Version-1) is not stored: the caller skipped versions.
// Expected is the version the aggregate's next commit must have (its
// latest version plus one, 0 for a new aggregate; inside an AppendAll, the
// version after the group's previous commit). Nothing was written. It
// matches ErrVersionGap with errors.Is, not ErrVersionConflict.
type VersionGapError struct {
	AggregateID string
	Version     int64
	Expected    int64
}

func (e *VersionGapError) Error() string {
	return fmt.Sprintf("%v: aggregate %q version %d: version %d is not stored, the next version is %d",
		ErrVersionGap, e.AggregateID, e.Version, e.Version-1, e.Expected)
}

// Is reports whether target is ErrVersionGap.
func (e *VersionGapError) Is(target error) bool { return target == ErrVersionGap }

// VersionConflictError reports that another commit already holds the
// version an Append asked for: someone else wrote to the aggregate since the
// caller last read it. Reload the aggregate, decide again, and append at the
// next version. It matches ErrVersionConflict with errors.Is and unwraps to
// the DynamoDB error.
type VersionConflictError struct {
	AggregateID string
	Version     int64
	// CommitID is the commit that holds the version ("" when unknown, as
	// when a transaction reports the conflict).
	CommitID string
	// Err is the underlying DynamoDB error.
	Err error
}

func (e *VersionConflictError) Error() string {
	msg := fmt.Sprintf("eventstore: version conflict: aggregate %q version %d", e.AggregateID, e.Version)
	if e.CommitID != "" {
		msg += " is held by commit " + e.CommitID
	}
	return msg
}

// Is reports whether target is ErrVersionConflict.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// Unwrap returns the DynamoDB error.
func (e *VersionConflictError) Unwrap() error { return e.Err }

// NotifyError reports that a commit was stored but its notification failed.
// The commit IS durable: do not treat a NotifyError as a failed write. Calling
// Append again with the returned Commit (same CommitID) succeeds without
// writing twice and notifies again.
type NotifyError struct {
	Commit Commit
	Err    error
}

func (e *NotifyError) Error() string {
	return fmt.Sprintf("eventstore: commit %s (aggregate %q version %d) is stored, but notification failed: %v",
		e.Commit.CommitID, e.Commit.AggregateID, e.Commit.Version, e.Err)
}

// Unwrap returns the notifier's error.
func (e *NotifyError) Unwrap() error { return e.Err }
