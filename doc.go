// Package eventstore is a commit-oriented, append-only event log on Amazon
// DynamoDB.
//
// # Basics
//
// An aggregate is a stream of commits named by an AggregateID. A Commit is
// one or more events that happened together, stored as one DynamoDB item,
// so all of them are durable or none. Its Version is its 0-based position in
// the aggregate: Append stores version N only if no commit holds it yet, with
// one conditional PutItem, so of several writers racing for a version exactly
// one wins and the others get a *VersionConflictError. Query reads one
// aggregate back, consistently, in version order.
//
// Every commit also gets a CommitID, a ULID: time-ordered and unique.
// Ordered by CommitID, the commits of all aggregates form the global log,
// which Scan reads from an exclusive checkpoint (the last CommitID the
// caller processed) for projection rebuilders, and Tail follows live for
// relays and projections.
//
//	store, err := eventstore.New(dynamodbClient, eventstore.Config{Table: "events"})
//	c, err := store.Append(ctx, eventstore.Commit{AggregateID: "account#1", Version: 0,
//		Events: []eventstore.Event{{Type: "accountCreated", Data: data}}})
//	for c, err := range store.Query(ctx, "account#1", 0) { ... }
//	for c, err := range store.Scan(ctx, checkpoint) { ... }
//	for c, err := range store.Tail(ctx, checkpoint) { ... } // until ctx ends
//
// # Table layout
//
// One table, keyed by aggregateId (S, partition key) and version (N, sort
// key). Each item also holds commitId (S), committedAt (N, unix ms), events
// (the events as a JSON array; as DEFLATE-compressed JSON in a binary
// attribute when that makes the item cost fewer write units), metadata (M,
// optional) and
// shard (N). The scan index (a GSI, default "commitsByCommitId") is keyed by
// shard and commitId and projects all attributes. shard is a hash of the
// aggregate id modulo Config.ScanShards, so an aggregate's commits share one
// shard, writes spread over ScanShards index partitions (about 1,000
// writes/s each), and Scan merges the shards back into one order.
//
// # Guarantees
//
//  1. Atomic commits: a commit's events are all stored or none.
//  2. Optimistic concurrency: of writers racing for one (aggregate, version),
//     exactly one succeeds; the others get *VersionConflictError.
//  3. Idempotent retry: when the SDK or the caller retries an Append whose
//     first attempt was stored, the retry finds its own commit in the
//     conditional-check failure (ReturnValuesOnConditionCheckFailure) and
//     reports success without writing twice. "Its own commit" means the
//     same commit: same key (aggregate, version), same CommitID, same
//     events (each one's type, data bytes and metadata, in order) and same
//     commit metadata, compared with the returned item (see identity.go).
//     The same CommitID with other content is a *CommitMismatchError
//     (ErrCommitMismatch, not a conflict): nothing is written, the stored
//     commit and its offloaded blob are untouched (blob keys carry a hash
//     of their content, so a blob is never overwritten). AppendAll,
//     AppendNew, AppendNext and Import retry alike, and a retry that finds
//     its commit stored notifies again. Every error after which the
//     outcome is unknown matches ErrOutcomeUnknown: retry with the
//     returned Commit, unchanged.
//  4. Gap-free global order: Scan yields every commit once, in CommitID
//     order, across shards and pages, holding back commits younger than the
//     settle window so that a late write cannot land behind a checkpoint.
//  5. Consistent aggregate reads: Query reads strongly consistently and
//     pages through results of any size.
//  6. Bad input gets a clear error before any request: nothing is
//     written. Checked before sending, every limit DynamoDB enforces on
//     the item: aggregate id non-empty, UTF-8, at most 2,048 bytes;
//     version not negative; at least one event, each with a UTF-8 type,
//     JSON data (UTF-8, nested at most 9,998 deep; whitespace around the
//     value is trimmed, and the returned Commit carries the trimmed data)
//     and UTF-8 metadata; commit metadata keys non-empty, UTF-8, at most
//     50,000 bytes (DynamoDB refuses 64 KB; DynamoDB Local fails past
//     50,000); the CommitID a ULID (any case, stored canonical); the
//     encoded item at most 400 KB (ErrCommitTooLarge, measured after
//     compression; with Config.Offload the events are offloaded whenever
//     the item would pass it, and commit metadata, never offloaded, that
//     alone does not fit is refused naming its size); events within
//     Config.MaxCommitBytes; AppendNext past version 2^63-1 refused. The
//     item nests two levels (item, metadata map), far under DynamoDB's 32.
//     An item in the table that does not decode, a non-canonical commitId
//     included, is an error naming it wherever it is read, never a panic
//     nor a silent skip (Scan and Tail probe for such ids; see probe.go).
//  7. Notification never loses a durable commit: Append writes, then
//     notifies; a failed notification is a *NotifyError, and the commit is
//     stored.
//
// # Settle window
//
// A commit's CommitID is taken before its PutItem lands, and the scan index
// is eventually consistent, so a commit can become visible in the index a
// little after a newer one. A reader that had already passed its CommitID
// would skip it forever. Two bounds make that impossible:
//
//   - Writer deadline: Append sends no PutItem attempt (the SDK's retries
//     included) once the CommitID's time is older than
//     Config.MaxCommitLatency (default 5 s): the request context ends there.
//     If the deadline cut a write short, Append settles it with a
//     conditional update that fences the key against this CommitID unless
//     a commit holds it: the commit landed (success), or it never will, not
//     even by an attempt still on its way (ErrCommitDeadline; retry with a
//     new CommitID). So every commit lands within MaxCommitLatency of its
//     CommitID's time, plus the few milliseconds of the fencing request. (An
//     Append whose caller cancels ctx cannot fence: an attempt it had sent
//     lands, if at all, within the network's delivery time, which the
//     allowance below absorbs.)
//   - Reader horizon: Scan and Tail yield only commits whose CommitID time is
//     older than the reader's now minus the settle window (Config.Settle,
//     default MaxCommitLatency + SettleAllowance = 5 s + 5 s = 10 s).
//
// A commit stamped at writer time t lands by real time t + L (L =
// MaxCommitLatency, measured on the writer's clock), shows up in the index
// within the index lag G, and a reader whose clock is ahead of the writer's
// by K passes t at its own time t + S. Nothing is skipped when
//
//	S > L + G + K      10 s = 5 s (deadline) + 3 s (index lag) + 2 s (clock skew)
//
// Index lag on DynamoDB is normally well under a second, and clocks synced
// by NTP or the Amazon Time Sync Service stay within milliseconds, so the
// allowance is generous; a reader that cannot wait may pass WithSettle(0)
// and accept the risk. New refuses a Settle that does not exceed
// MaxCommitLatency.
//
// # More than one commit, and expected state
//
// AppendAll stores up to 100 commits of any aggregates all or none, with one
// TransactWriteItems; a conflict on any of them stores none and returns one
// *VersionConflictError per conflicting commit (see Conflicts). AppendNext
// appends at whatever the next version is (KurrentDB's "any"), retrying
// conflicts a bounded number of times; AppendNew appends version 0 of an
// aggregate that must not exist yet ("no stream"). LatestVersion and Exists
// read the newest version with one consistent Query.
//
// # Listing aggregates, streams, views, metrics
//
// With Config.AggregatesIndex, version-0 commits carry the key of a sparse,
// keys-only index, and Aggregates lists every aggregate id from it,
// eventually consistently. With Config.Stream, CreateTable enables the
// table's DynamoDB stream, and ParseImage (or ParseImageJSON, for the JSON a
// Lambda function receives) turns a record's new image back into its
// Commit. Events and Fold give aws-event-stream's views of an aggregate.
// Config.Observer hears of every operation: requests, consumed capacity,
// retries, conflicts, recognised duplicates, late refusals and scan lag.
//
// # Time to live
//
// With Config.TTL, every commit carries an expiresAt attribute, CommittedAt
// plus TTL, and CreateTable enables DynamoDB's Time to Live on it. DynamoDB
// then DELETES expired commits, usually within a few days of expiry: they
// disappear from Query, Scan, Tail and Aggregates (until then they are still
// read), a projection rebuilt from Scan no longer sees them, and an
// aggregate whose commits all expired starts again at version 0. Use TTL
// for ephemeral streams only (sessions, caches of external events), never
// for the system of record. TTL must exceed the settle window.
//
// # Large commits
//
// With Config.Offload set (s3offload.Store keeps blobs in S3), a commit
// whose encoded events pass Config.OffloadAbove (256 KiB) stores them,
// compressed, in the blob store first, and then its item with a pointer,
// their size and SHA-256, under the usual condition: the item is the commit
// point, so a commit is still all or nothing. Reads fetch the blobs in
// parallel and check them; a missing or altered blob is an error naming
// aggregate, version and key (ErrBlobNotFound, ErrCorruptCommit). A blob is
// never overwritten: its key carries a hash of its content, so a retry
// with changed content writes another key. The events are also offloaded
// when, under OffloadAbove, the whole item would pass 400 KB (large commit
// metadata, which is never offloaded). Blobs of commits that lost a
// conflict, missed their deadline or mismatched (and of every commit of an
// AppendAll that stored none) are deleted; other orphans are never read
// and can be swept with Store.Orphaned.
//
// # Caveats
//
//   - An item holds at most 400 KB: a larger commit fails with
//     ErrCommitTooLarge before any request (sizes are measured after
//     compression), unless Config.Offload is set. Any commit is bounded by
//     Config.MaxCommitBytes (16 MiB of events as JSON).
//   - Versions are not checked for gaps: Append at version 5 of a new
//     aggregate succeeds. Writers derive the next version from what they
//     read, so gaps do not arise in practice.
//   - Cost: an Append is one PutItem, one write unit per KB of item on the
//     table and again on the scan index. A Query or Scan page costs one read
//     unit per 4 KB read (half for eventually consistent Scan reads). An
//     AppendAll of N commits is one request, but DynamoDB bills a
//     transactional write twice: 2 write units per KB of each item on the
//     table, plus 1 on each index, against 1 + 1 for N Appends.
//   - Every store on a table must use the same ScanShards: the table
//     records the count of the store that created it (or first used it), and
//     a store with another count gets ErrShardMismatch from every operation.
//   - A caller-set CommitID must be fresh (younger than MaxCommitLatency): an
//     older one is never written (ErrCommitDeadline), since readers may have
//     passed its time. Retrying a stored commit late still succeeds.
package eventstore
