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
	// is not UTF-8, an empty commit metadata key or one over 50,000 bytes,
	// a CommitID that is not a ULID (any case; it is stored canonical),
	// an AppendAll without commits, past one transaction's limits (100
	// commits, 4 MB) or with two commits for one version or CommitID, or an AppendNext past version 2^63-1;
	// a caller-set CommitID more than Config.MaxCommitLatency ahead of
	// the store's clock; a commit whose predecessor's CommitID is at the
	// largest ULID time (no CommitID can follow it); a store clock outside
	// the ULID range. The message says which.
	ErrInvalidCommit = errors.New("eventstore: invalid commit")
	// ErrInvalidCommitID reports a scan checkpoint (Scan's or Tail's after)
	// that is not a 26-character ULID (in any case), or the largest ULID.
	ErrInvalidCommitID = errors.New("eventstore: invalid commit id")
	// ErrCommitTooLarge reports a commit whose encoded item exceeds
	// DynamoDB's 400 KB item limit (with Config.Offload: whose commit
	// metadata, never offloaded, leaves no room; the message names its
	// size), or whose events exceed Config.MaxCommitBytes or number more
	// than 100,000; the size is measured before sending.
	ErrCommitTooLarge = errors.New("eventstore: commit too large")
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
	// ErrOutcomeUnknown is matched by every error of a write after which
	// the commit may or may not be stored: a network failure or a cancelled
	// ctx while the PutItem (or transaction, or settling fence) was on its
	// way, throttling past the SDK's retries. Retry with the returned
	// Commit (same CommitID, same content): the retry stores it, or finds it
	// stored and reports success. It is also matched by a failed request
	// before the write (the shard check, AppendNext's and AppendNew's read
	// of the latest version, the upload of offloaded events), after which
	// the commit is not stored but the same retry is right, so that a
	// command handler tells apart three outcomes only: stored (nil or a
	// *NotifyError), not stored (a validation error, *VersionConflictError,
	// ErrCommitDeadline, *CommitMismatchError, ErrShardMismatch,
	// ErrTableNotFound, ErrTableMismatch), unknown. A request that finds no
	// table, or one of another shape, never leaves the outcome unknown:
	// it wrote nothing (ErrTableNotFound, ErrTableMismatch).
	ErrOutcomeUnknown = errors.New("eventstore: outcome unknown, retry with the same commit")
	// ErrCommitMismatch is matched by every *CommitMismatchError: a retry
	// found its CommitID stored with other content.
	ErrCommitMismatch = errors.New("eventstore: commit id stored with other content")
	// ErrCorruptCommit reports an item in the table that does not decode
	// as a commit; the wrapping error names the aggregate and version.
	ErrCorruptCommit = errors.New("eventstore: corrupt commit item")
	// ErrBlobNotFound reports offloaded events that are missing from
	// Config.Offload; the wrapping error names aggregate, version and key.
	// BlobStore implementations wrap it for a missing key.
	ErrBlobNotFound = errors.New("eventstore: offloaded events not found")
	// ErrShardMismatch reports a store whose ScanShards is none of the
	// counts of the table's shard schedule (the count it was created with,
	// and those of its reshards): it is configured for another table, so
	// every operation refuses to run.
	ErrShardMismatch = errors.New("eventstore: scan shard count differs from the table's")
	// ErrTableMismatch reports an existing table or index whose key schema
	// or settings are not the ones the store needs, or whose metadata item
	// (the recorded shard count) is unreadable. Any operation returns it
	// when a request finds the table with another key, or without an
	// index the operation reads; nothing was written.
	ErrTableMismatch = errors.New("eventstore: table does not match the store's schema")
	// ErrTableNotFound reports a table that is not there: a request of
	// any operation found no table of Config.Table's name in the client's
	// account and region (DynamoDB's ResourceNotFoundException), or found
	// it not ACTIVE yet. Nothing was written, so a write that fails with it
	// is not an unknown outcome: create the table (Store.CreateTable, or
	// the eventstore command's import -create), or fix the name, region or
	// endpoint. The error names the table and unwraps to DynamoDB's.
	ErrTableNotFound = errors.New("eventstore: table not found")
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
	// ErrAggregateDeleted reports an aggregate Store.Delete deleted: Query
	// and the loads yield it instead of the aggregate's commits, and every
	// append to it (Append, AppendNew, AppendNext, AppendAll, Update), a
	// snapshot of it and a second Delete are refused with it, nothing
	// written, until DynamoDB's Time to Live removes its items. See
	// doc.go, "Deleting and expiring an aggregate".
	ErrAggregateDeleted = errors.New("eventstore: aggregate deleted")
	// ErrHistoryExpired reports a load that needs commits Store.Expire
	// expired: the newest snapshot's tag is not the one asked for (or it
	// does not decode), so a full replay would start past version 0.
	// Load with the newest snapshot's tag, or save one of the new tag
	// from it.
	ErrHistoryExpired = errors.New("eventstore: the aggregate's early history expired")
	// ErrUpcastFailed is matched by every *UpcastError: a read met a
	// stored event that a Config.Upcasters function could not turn into
	// its current form. The stored commit is intact; fix the upcaster.
	ErrUpcastFailed = errors.New("eventstore: upcast failed")
	// ErrReshardConflict reports a Store.Reshard that lost the race with
	// another reshard of the same table: the schedule changed between its
	// read and its conditional write, and it wrote nothing. Read the
	// schedule again (Store.ShardSchedule) and decide whether to reshard
	// further.
	ErrReshardConflict = errors.New("eventstore: another reshard changed the shard schedule first")
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
	// errMetadataKeyTooLong: see maxMapKeyBytes.
	errMetadataKeyTooLong = errors.New("commit metadata key over 50,000 bytes")
	// errNoNextVersion: an aggregate at version 2^63-1 has no next one.
	errNoNextVersion = errors.New("aggregate is at the largest version")
	errNotULID       = errors.New("not a ULID in canonical form")
	// errCommitIDAhead: a caller-set CommitID further ahead of the
	// store's clock than Config.MaxCommitLatency.
	errCommitIDAhead = errors.New("commit id too far ahead of the clock")
	// errNoNextCommitID: the predecessor's CommitID is at the largest ULID
	// time, so no CommitID can follow it.
	errNoNextCommitID = errors.New("no commit id after one at the largest ULID time")
	// errClockOutOfRange: the store's clock is before 1970 or after the
	// year 10889, outside the times a ULID holds.
	errClockOutOfRange = errors.New("clock outside the ULID range")
	errNoCommits       = errors.New("no commits to append")
	// errTransactionTooLarge: an AppendAll past one transaction's limits
	// (100 commits, 4 MB of items): split the batch.
	errTransactionTooLarge = errors.New("too many commits or bytes for one transaction")
	// errNoAggregatesIndex: Aggregates on a store without
	// Config.AggregatesIndex, a mistake of configuration.
	errNoAggregatesIndex = errors.New("eventstore: no aggregates index configured (Config.AggregatesIndex)")
	errDuplicateCommit   = errors.New("two commits for the same version or with the same commit id")

	errNegativeSettle = errors.New("eventstore: negative settle window")
	// errInvalidShardCount: Reshard's count is not a larger multiple of
	// the newest one.
	errInvalidShardCount = errors.New("eventstore: invalid shard count")
	// errInvalidPartition: Partition(i, p) without 0 <= i < p.
	errInvalidPartition = errors.New("eventstore: invalid partition")
	// errLiveScan: Live is Tail's option; a Scan ends, so it reads the
	// settled log only.
	errLiveScan   = errors.New("eventstore: Live is an option of Tail, not of Scan")
	errNotBlobKey = errors.New("eventstore: not a key of offloaded events")
	// errUpcasterLoop: Config.Upcasters holds a chain that leads back
	// into itself, which a read would follow forever.
	errUpcasterLoop = errors.New("upcaster chain loops")
	// errDuplicateUpcaster: two Config.Upcasters for one type and version.
	errDuplicateUpcaster = errors.New("two upcasters for one type and version")
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

// CommitMismatchError reports that a write found its own CommitID stored at
// its key with other content: other events (type, data bytes or event
// metadata) or other commit metadata. Success of a write means "this exact
// commit is stored", so this is an error: typically the caller kept a
// returned Commit, changed its events and appended it again. The stored
// commit is unchanged and nothing was written; append the new content with
// a new CommitID (clear Commit.CommitID), at a new version. It matches
// ErrCommitMismatch, and NOT ErrVersionConflict: it is a bug of the
// caller, not a race another writer won, and reloading does not cure it.
type CommitMismatchError struct {
	AggregateID string
	Version     int64
	// CommitID is the CommitID of both the stored commit and the one sent.
	CommitID string
	// Differs says what differs: "events", "commit metadata", or both.
	Differs string

	storedKey string // the stored commit's blob key, which must stay
}

func (e *CommitMismatchError) Error() string {
	return fmt.Sprintf("eventstore: aggregate %q version %d holds commit %s with other %s than the commit sent with that id (a retry must send the same commit; new content needs a new CommitID)",
		e.AggregateID, e.Version, e.CommitID, e.Differs)
}

// Is reports whether target is ErrCommitMismatch.
func (e *CommitMismatchError) Is(target error) bool { return target == ErrCommitMismatch }

// unknownError is an error after which a write's outcome is unknown: it
// matches ErrOutcomeUnknown and unwraps to its cause.
type unknownError struct {
	msg string
	err error
}

// unknown wraps err, the cause, with msg, matching ErrOutcomeUnknown;
// unless a request found the table missing or not the store's, which
// wrote nothing: then it is that definite error (see tableError).
func unknown(err error, format string, args ...any) error {
	if t, ok := tableProblem(err); ok {
		return t
	}
	return &unknownError{msg: fmt.Sprintf(format, args...), err: err}
}

func (e *unknownError) Error() string {
	if e.msg == "" {
		return e.err.Error()
	}
	return e.msg + ": " + e.err.Error()
}

// failedBefore marks an error of a request sent before the write (the
// shard check, a read of the latest version, the upload of offloaded
// events) as matching ErrOutcomeUnknown, the outcome whose cure (retry
// with the same Commit) it shares, unless it is final (ErrShardMismatch,
// ErrTableMismatch, ErrTableNotFound, ErrInvalidCommit, ErrCorruptCommit).
func failedBefore(err error) error {
	if t, ok := tableProblem(err); ok {
		return t
	}
	for _, final := range []error{ErrShardMismatch, ErrSettleMismatch, ErrTableMismatch, ErrInvalidCommit, ErrCorruptCommit, ErrVersionGap, ErrOutcomeUnknown} {
		if errors.Is(err, final) {
			return err
		}
	}
	return &unknownError{err: err}
}

func (e *unknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

func (e *unknownError) Unwrap() error { return e.err }

// walkErrors calls visit on every error of err's tree.
func walkErrors(err error, visit func(error)) {
	if err == nil {
		return
	}
	visit(err)
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, err := range e.Unwrap() {
			walkErrors(err, visit)
		}
	case interface{ Unwrap() error }:
		walkErrors(e.Unwrap(), visit)
	}
}
