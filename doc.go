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
//	for c, err := range store.Scan(ctx, checkpoint) { ... } // commits older than the settle window (10 s): right after writing, none yet
//	for c, err := range store.Tail(ctx, checkpoint) { ... } // until ctx ends, then no error
//	for c, err := range store.Tail(ctx, checkpoint, eventstore.Live()) { ... } // within ~300 ms
//
// # Table layout
//
// One table, keyed by aggregateId (S, partition key) and version (N, sort
// key). Each item also holds commitId (S), committedAt (N, unix ms), events
// (the events as a JSON array; as DEFLATE-compressed JSON in a binary
// attribute when that makes the item cost fewer write units), metadata (M,
// optional), shard (N) and, at every version n > 0 written by Append,
// AppendAll or AppendNext, prev (S): the CommitID of version n-1 (items
// stored before it existed have none and read back alike). The metadata
// item ($eventstore, version -1) records the shard count (scanShards, or
// once resharded the shard schedule) and maxCommitLatency. The scan index
// (a GSI, default "commitsByCommitId") is keyed by shard and commitId and
// projects all attributes. shard is a hash of the aggregate id (FNV-1a)
// modulo the shard count in force at the commit's CommitID
// (Config.ScanShards until a reshard; see "Shard schedule"), so an
// aggregate's commits of one epoch share one shard, writes spread over
// that many index partitions (about 1,000 writes/s each), and Scan merges
// the shards back into one order.
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
//     commit metadata, compared with the returned item.
//     The same CommitID with other content is a *CommitMismatchError
//     (ErrCommitMismatch, not a conflict): nothing is written, the stored
//     commit and its offloaded blob are untouched (blob keys carry a hash
//     of their content, so a blob is never overwritten). AppendAll,
//     AppendNew, AppendNext and Import retry alike, and a retry that finds
//     its commit stored notifies again. Every error after which the
//     outcome is unknown matches ErrOutcomeUnknown: retry with the
//     returned Commit, unchanged.
//  4. Gap-free global order: Scan and Tail yield every commit once, in
//     CommitID order, across shards and pages, holding back commits younger
//     than the settle window so that a late write cannot land behind a
//     checkpoint; and every aggregate's commits in version order, without
//     gaps, because CommitIDs are causal (see "Causal order").
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
//     nor a silent skip (Scan and Tail probe for such ids; see Store.Scan).
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
// L is the WRITERS' deadline, so the table records it: the first store to
// use a table writes its MaxCommitLatency into the metadata item beside
// scanShards (a writer adds it to an item that lacks it; a reader
// never writes it, and assumes its own until a writer has). A store whose
// MaxCommitLatency exceeds the recorded one gets ErrSettleMismatch from
// its first write; a store whose settle window (Config.Settle, or
// WithSettle(d) with d > 0) is shorter than the recorded deadline plus
// SettleAllowance gets it from its first Scan or Tail. Both are checked
// once per Store, with the shard count.
//
// The exact condition: nothing is skipped as long as every request is
// delivered within the allowance, network delivery time + index lag +
// clock skew <= SettleAllowance. A request held on the network longer can
// land after readers passed its time; time-based settling cannot prevent
// that, but it is visible: when Append learns that its commit is stored
// only after its writer deadline (the deadline cut the put short and the
// fence found the commit, or a retry with an old Commit found it), it
// returns success with Commit.LandedLate set, and the Observer counts a
// late landing (Observation.LateLandings). The fence request itself is
// bounded by SettleAllowance/2: a commit it finds landed within half the
// allowance after the deadline; past that bound the outcome is unknown and
// the error says so.
//
// # Causal order
//
// Append (and AppendAll, AppendNext) stores version n > 0 only if version
// n-1 is a stored commit, and gives it a CommitID greater than version
// n-1's: a skipped version is a *VersionGapError (ErrVersionGap, naming the
// next version; not a conflict), a caller-set CommitID that is not greater
// is refused before any request (ErrInvalidCommit), and a store-assigned
// one from a clock behind the predecessor's writer's is replaced by a
// random ULID at the predecessor's millisecond + 1. Within an aggregate,
// CommitIDs thus increase with versions, and the global log keeps every
// aggregate in version order whatever the writers' clocks. AppendNew
// writes version 0, which has no predecessor.
//
// The check reads before it writes, not atomically, and that is safe: a
// stored commit never changes (a fence only takes a free key, and a commit
// replaces only a fence), so what the read saw of version n-1 is still
// true when version n lands; the put's own condition still decides who
// wins version n. The Store remembers, for 10,000 aggregates, the newest
// commit Query, LatestVersion, Exists and its appends saw (duplicates
// included), so load, decide, append costs no extra request; otherwise
// one consistent GetItem of version n-1 (AppendNext uses its latest-version
// Query instead).
//
// Commits that share a CommitID (only caller-set ids can; on one aggregate
// it is refused) are yielded adjacently by Scan and Tail, ordered by
// AggregateID. A checkpoint is a CommitID and covers every commit with a
// CommitID up to it: checkpoint after the last commit of such a run.
//
// A store-assigned CommitID may be a little ahead of its writer's clock
// (when the predecessor's writer's clock was ahead). The writer deadline is
// measured from the CommitID's time, so the commit still lands by its
// CommitID time + L, and the settle arithmetic below holds unchanged: the
// deadline only grows by the skew, and readers wait for the CommitID's
// time, not the writer's.
//
// # Live tail
//
// A strict Tail (the default) yields a commit once it is settled, about
// Settle (10 s) after its CommitID's time, in one global CommitID order,
// and its checkpoint is the last CommitID it yielded. With Live, Tail
// yields a commit as soon as a poll finds it in the scan index, typically
// 100-300 ms after its Append, in version order per aggregate, still
// without skipping any. Choose strict for consumers that need one global
// order (a projection over several aggregates whose updates must commute
// in CommitID order); choose live for read models, notifications and
// reactions, which need each aggregate's order and low latency.
//
// A live Tail keeps a watermark W: every commit with a CommitID <= W has
// been yielded, or was at or before the start checkpoint. It starts with
// W = the checkpoint, yields the settled backlog with the strict, streaming
// scan up to H = now - S (S the settle window), sets W = H, and then polls
// every 200 ms while commits arrive (growing to 1 s while idle):
//
//   - a fast query for each busy shard (one that found new commits in the
//     last second) for the CommitIDs from that shard's previous poll minus
//     a lookback, with no upper bound. The lookback covers the time between
//     a CommitID's time and its first sight in the index (the write itself,
//     index lag, small clock skew, a poll's interval): the 99.9th
//     percentile of the last 1,024 such delays observed, within 200 ms and
//     1 s;
//   - about once a second, a backtrack over (W, H'], H' = now - S, for every
//     shard, after which W = H'. For a quiet shard (its previous query
//     returned few items) the backtrack and the fast query are one query
//     from W up; a quiet shard is not polled between backtracks, and when
//     commits arrive after a quiet spell every shard wakes.
//
// It yields what a poll finds in CommitID order, skipping CommitIDs <= W
// and those in the set of CommitIDs > W it has yielded (pruned as W
// advances), and it holds back version n until its predecessor, named by
// the item's prev attribute (the CommitID of version n-1), is <= W or
// yielded; a held commit is yielded right after its predecessor. A commit
// held for 200 ms has its predecessors read from the table, by key and
// consistently (up to 8 versions back, 16 such reads a poll): one commit
// the index shows late does not hold its aggregate back until W passes
// it. After a pause longer than the settle window (a slow consumer, an
// outage), the Tail reads (W, H'] once with the streaming scan, a few
// pages per shard at a time, instead of a fast query over the pause.
//
// Nothing is skipped. A commit stamped t by its writer's clock lands by t +
// L (the writer deadline, see Settle window), is visible in the index by t
// + L + G (index lag), and the reader's clock, ahead by at most K, reads
// then at most t + L + G + K. A backtrack at reader time r covers up to H'
// = r - S, and S > L + G + K, so every commit <= H' is visible by then: the
// backtrack yields it unless a fast query already did. A commit that
// becomes visible more than the lookback after its CommitID's time (a slow
// write, a writer clock behind) is found by the backtrack, up to S + 1 s
// late, never lost. Hence W = H' keeps its promise.
//
// Each commit is yielded once per Tail: a commit is yielded only if its
// CommitID is > W and it is not in the set, the set holds every yielded
// commit > W (by CommitID and aggregate, since caller-set CommitIDs may be
// shared), and W only grows.
//
// Each aggregate's commits come in version order: version n only after
// version n-1 was yielded (in the set, or <= W). CommitIDs are causal
// (version n's is greater than version n-1's), so a hold ends at the latest
// when W passes the predecessor's CommitID, within S + 1 s of it: a missing
// predecessor (deleted by Config.TTL) delays a commit, never blocks it.
// Items written before predecessors were recorded carry no prev and are
// not held: their order is the order they became visible in.
//
// Restart. OnCheckpoint reports W each time it advances (in the backlog,
// each CommitID yielded, once every commit sharing it was). A live Tail restarted from it repeats the
// commits its predecessor yielded with a CommitID > W: those stamped in the
// last S + 1 s before it stopped (at 100 commits/s and the default 10 s,
// about 1,100 commits), never one older. Each is recognisable by aggregate
// id and version: a consumer that keeps the last version it applied per
// aggregate drops them, since each aggregate's versions come in order.
//
// Cost. While commits flow, a busy shard's fast query re-reads the commits
// of the last lookback + poll interval, so each commit is read by a few
// fast queries and one backtrack. Measured under the limits simulator
// (TestLiveTailCost, 1 KB commits, 0.5 read unit per started 4 KB of a
// query, at least 0.5 a query): about 3.3 times the read units per commit
// of a strict Tail; idle, about 0.5 queries per second per shard. Items
// already yielded are not decoded again, and offloaded events are fetched
// once. Memory: the set of yielded CommitIDs (about S + 1 s of commits)
// and one poll's commits.
//
// # Shard schedule
//
// One shard is one partition of the scan index, which takes about 1,000
// writes/s for good, so the shard count bounds the write rate. The count
// can grow on a live table: the metadata item records a schedule, the
// count in force from a CommitID on, e.g. [4 from the beginning, 16 from
// B]. A commit with CommitID c is in shard hash(aggregate id) mod n(c).
// Counts only grow, each a multiple of the one before, so every new shard
// has exactly one parent (new shard j takes the aggregates of old shard j
// mod old). Store.Reshard (the eventstore command's reshard) adds an
// entry whose boundary B is ReshardLead (60 s) after the resharder's
// clock, with an update conditioned on the schedule it read: of two
// reshards at once one wins, the other gets ErrReshardConflict and writes
// nothing.
//
// Why no process acts on a stale count. A store that read the schedule
// with a request sent at its time r relies on it for CommitIDs whose
// time is before u = r + ReshardLead/2. A reshard it did not see landed
// after its read was served, so the resharder took B at most K + D before
// r on the store's clock (K the clock skew between the two, D the
// delivery time of the reshard's update, bounded by a SettleAllowance/2
// timeout): B >= r - K - D + ReshardLead > u whenever K + D < 30 s, six
// times the SettleAllowance that the settle window already assumes for
// the same skew and delivery. So a count the store does not know applies
// only to CommitIDs after u, and:
//
//   - a writer (Append, AppendAll, AppendNext, Update, Import) shards a
//     commit only with a schedule whose u is past the CommitID's time,
//     reading the schedule again first otherwise; its retries send the
//     same shard, which never changes for a CommitID;
//   - a reader (Scan, strict and live Tail, the relay, Store.Orphaned)
//     turns every range of CommitIDs into queries in one place, which
//     reads the schedule again unless u is past the range's end (or past
//     now, for a live Tail's fast queries, open above). It splits the
//     range at each boundary and reads each piece with its count, so the
//     log stays gap-free and each aggregate in version order across a
//     boundary. A horizon or watermark never passes now - Settle, so no
//     reader advances one over a range it read with a count it could
//     have missed; a fast query that misses a commit past u (only a
//     caller-set CommitID ahead of the clock can be) leaves it to the
//     backtrack, which the watermark waits for;
//   - Aggregates and the probe read every shard of the newest count,
//     which covers every epoch's.
//
// A store reads the schedule again once less than ReshardLead/4 (15 s) of
// u is left: one consistent GetItem of the metadata item every 15 s or
// so while it works. CommitIDs run ahead of their writer's clock by at
// most MaxCommitLatency (5 s, caller-set ones), far within that, and
// readers' horizons trail the clock by Settle, so neither waits for a
// read; a caller-set CommitID more than ReshardLead/2 ahead of the
// store's clock (only possible with a MaxCommitLatency over 30 s) is
// refused with ErrInvalidCommit.
//
// Config.ScanShards is the count of a new table. On an existing one it
// must be one of the schedule's counts (so stores configured before a
// reshard keep working after it, and new ones may say the new count);
// any other is ErrShardMismatch, a store configured for another table.
//
// Versions without the schedule: the first reshard turns the item's
// scanShards into a string, which they cannot read, so they refuse the
// table (ErrTableMismatch) before writing anything. A process of such a
// version that checked the table before the reshard keeps its count and
// would write later commits to the wrong shard: every process must run a
// version with the schedule before the first reshard
// (docs/resharding.md).
//
// # Partitions
//
// Partition(i, p) makes Scan or Tail read partition i of p: the
// aggregates whose hash is i modulo p, the same hash that places them in
// shards, so each aggregate is in one partition across every epoch of
// the schedule, and p readers, each with its own checkpoint, together
// read every commit once, each aggregate in version order. A partition
// reads only the shards j with j = i modulo gcd(n, p) of each epoch's
// count n (n/p shards when p divides n), and keeps the items of its
// aggregates.
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
// Update runs a command handler's loop: it loads the aggregate with Query,
// lets decide turn its history into events, appends them at the next
// version, reloads and decides again on a conflict or ErrCommitDeadline,
// and retries the same Commit on an unknown outcome, all bounded by
// Config.AppendNextAttempts. Example_commandHandler writes the loop out.
//
// # History and tools
//
// Import stores history with its original CommitIDs, without the writer
// deadline, for a table no reader is tailing yet (a restore, a migration);
// it keeps the causal order, is idempotent by CommitID, and does not
// notify. DecodeItem decodes one raw item of a table scan, offloaded events
// fetched and checked, for tools that must go on past a bad item. The
// eventstore command (cmd/eventstore; docs/cli.md) is built on both: cat,
// log, export, import, stats and verify.
//
// # Listing aggregates, streams, views, metrics
//
// Every version-0 commit carries the key of a sparse, keys-only index
// (aggregateShard), whatever the configuration, so an index added later
// lists every aggregate without a backfill. With Config.AggregatesIndex,
// CreateTable creates that index, and Aggregates lists every aggregate id
// from it, eventually consistently. With Config.Stream, CreateTable enables the
// table's DynamoDB stream, and ParseImage (or ParseImageJSON, for the JSON a
// Lambda function receives) turns a record's new image back into its
// Commit. Events and Fold give aws-event-stream's views of an aggregate.
// Config.Observer hears of every operation: requests, consumed capacity,
// retries, conflicts, recognised duplicates, late refusals, late landings
// and scan lag.
//
// # Time to live
//
// With Config.TTL, every commit carries an expiresAt attribute, CommittedAt
// plus TTL, and CreateTable enables DynamoDB's Time to Live on it. DynamoDB
// then DELETES expired commits, usually within a few days of expiry; reads
// skip them from their expiry on (see "Deleting and expiring an
// aggregate"), and Aggregates once DynamoDB removed them; a projection
// rebuilt from Scan no longer sees them, and an aggregate whose commits
// all expired starts again at version 0 once DynamoDB removed them. Use TTL
// for ephemeral streams only (sessions, caches of external events), never
// for the system of record. TTL must exceed the settle window.
//
// # Snapshots
//
// A snapshot is the caller's state of one aggregate after the commit at a
// version, with a tag naming its schema (Snapshot, SaveSnapshot). It is an
// item in the aggregate's own partition at sort key -2-version: below the
// metadata's -1, so the newest snapshot has the lowest key; with neither
// commitId nor shard, so no index holds it, Scan, Tail, the relay and
// export never meet it, and Query (versions from 0) never reads it; it
// records the version (snapshotOf), the tag, the CommitID it covers, when
// it was saved, and the state as bytes, or, past Config.OffloadAbove with
// Config.Offload, a pointer to a blob with its size and SHA-256. Saving
// reads the commit it covers (one consistent GetItem: it must be stored)
// and writes its own key with one PutItem, so it never conflicts with an
// append; saving again at a version replaces that snapshot.
//
// Load (and LoadFold, UpdateFrom) sends two requests whatever the
// aggregate's length: one consistent Query of Limit 1 on "version < -1",
// which returns the newest snapshot (one item: its read units are its size
// in 4 KB), and one consistent Query of the commits from its version + 1,
// which reads only the commits since (one page per 1 MB). An aggregate of
// 10,000 small commits with a snapshot every 100 loads in 2 requests and 5
// read units instead of 3 requests and 388 (DynamoDB Local's measure). A
// newest snapshot of another tag than the one asked for is ignored and
// every commit read: a new schema starts with a full replay, and the first
// snapshot saved in it makes loads cheap again. Snapshots accumulate, one
// item per save; Expire removes all but the newest.
//
// # Deleting and expiring an aggregate
//
// Delete appends a tombstone: a commit of one TombstoneType event, marked
// deleted in its item, which Scan, Tail and the relay yield once like any
// commit, so projections learn of it (Commit.IsTombstone). It then makes
// every other item of the aggregate expire now (one UpdateItem each, a
// commit's also writing the scan index), and writes a guard, an item
// marked deleted without commitId, at the version after the tombstone.
// The tombstone and the guard refuse every append: a put at the guard's
// version fails its condition on the guard, a put past it finds the guard
// or a gap where its predecessor should be, and LatestVersion, AppendNew,
// AppendNext and SaveSnapshot read the marked top item. Query and the
// loads yield ErrAggregateDeleted. The tombstone and the guard expire the
// keep Delete was given after the tombstone (at least the settle window,
// so a strict Tail yields it). Expire expires the commits of one aggregate
// below a version or older than an age, but never its newest snapshot,
// the commits after it, or its latest commit: loads, appends and the
// CLI's verify go on as before.
//
// Expiry is the expiresAt attribute (unix seconds), which every read
// honours itself: an item past it is skipped by Query, Scan, Tail, Load
// and verify at once, although DynamoDB's Time to Live sweep may remove it
// days later. The removal needs the table's Time to Live on expiresAt:
// CreateTable enables it when Config.TTL is set; on a table without it,
// enable it yourself (UpdateTimeToLive on expiresAt). Without it, expired
// items are never removed: they stay invisible but billed as storage, and
// a deleted aggregate's id is never free again. Until DynamoDB removes a
// deleted aggregate's guard, its id refuses appends (ErrAggregateDeleted);
// afterwards it starts again at version 0. Expiry changes items, so a
// DynamoDB stream carries MODIFY records for them: a stream consumer
// takes INSERT records only. Aggregates lists from a keys-only index and
// shows an aggregate until DynamoDB removes its version 0.
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
// # Upcasting
//
// Config.Upcasters turn stored events of an old schema into the current
// one on every read (Query, Scan, both Tails, Update, DecodeItem,
// Store.ParseImage, and so the relay and the eventstore command), never
// what is stored: a retried Commit is compared with the stored bytes. An
// event's schema version is its metadata value at Config.SchemaVersionKey
// ("v"); each Upcaster declares the type and version it makes, so chains
// (v1 -> v2 -> v3) compose and New refuses one that loops. A failing
// upcaster ends the read with an *UpcastError naming aggregate, version
// and event. See Upcaster and docs/upcasting.md.
//
// # Local development
//
// Tests run against DynamoDB Local (Java 17 or later): `go run
// github.com/dynacommit/eventstore/dynamotest/install` installs it for
// dynamotest in any module. Give clients of DynamoDB Local
// DisableValidateResponseChecksum, or the SDK logs a checksum warning per
// refused condition. The module needs Go 1.26 or later.
//
// # Caveats
//
//   - An item holds at most 400 KB: a larger commit fails with
//     ErrCommitTooLarge before any request (sizes are measured after
//     compression), unless Config.Offload is set. Any commit is bounded by
//     Config.MaxCommitBytes (16 MiB of events as JSON).
//   - The causal check's cold path: an Append at version n > 0 whose Store
//     has not seen version n-1 (another process wrote it, or the aggregate
//     fell out of the 10,000 remembered) first reads it with one consistent
//     GetItem: 2 requests instead of 1, and 1 read unit per 4 KB of that
//     item (measured with DynamoDB Local: warm 1 request and 0 RCU per
//     commit, cold 2 requests and 1 RCU per small commit; see
//     benchmarks/causal_test.go). A refused gap costs one more Query.
//   - Cost: an Append is one PutItem, one write unit per KB of item on the
//     table and again on the scan index. A Query or Scan page costs one read
//     unit per 4 KB read (half for eventually consistent Scan reads). An
//     AppendAll of N commits is one request, but DynamoDB bills a
//     transactional write twice: 2 write units per KB of each item on the
//     table, plus 1 on each index, against 1 + 1 for N Appends.
//   - Every store on a table must use a ScanShards of its shard schedule:
//     the table records the count of the store that created it (or first
//     used it) and the counts of every reshard, and a store with another
//     count gets ErrShardMismatch from every operation.
//   - A caller-set CommitID must be fresh (younger than MaxCommitLatency): an
//     older one is never written (ErrCommitDeadline), since readers may have
//     passed its time. Retrying a stored commit late still succeeds.
package eventstore
