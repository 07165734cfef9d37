// Package notifier announces the commits of an eventstore.Store to other
// services through Amazon SNS, in one of two ways:
//
//   - SNS, as the store's Config.Notifier: Append writes the commit, then
//     publishes it. Simple and immediate, but a dual write: if publishing
//     fails past its retries, the commit is stored and not announced until
//     the caller retries the Append.
//   - Relay: Append only writes; a relay process follows the global log
//     (Store.Tail in live mode) from a checkpoint kept in DynamoDB and
//     publishes every commit at least once, within about a second of its
//     Append, each aggregate's commits in version order. No commit can be
//     stored and never announced.
//
// Both publish the same messages, and may be combined: on a FIFO topic, SNS
// drops the relay's copy of a commit the notifier published in the
// previous 5 minutes.
//
// # Messages
//
// One message per commit. Its body is an Envelope (JSON, schema
// "eventstore.commit.v1"): aggregateId, version, commitId, committedAt,
// events (type, data, metadata) and metadata. Its message attributes are
// aggregateId (String), version (Number), commitId (String) and eventTypes
// (String.Array of the distinct event types), for subscription filter
// policies: {"eventTypes": ["deposited"]} delivers the commits holding a
// deposited event, {"aggregateId": [{"prefix": "account#"}]} the commits of
// accounts. Subscribers parse bodies with Decode, which also unwraps the
// notification JSON of a subscription without raw message delivery.
//
// On a FIFO topic (name ending in ".fifo") the MessageGroupId is the
// aggregate id (GroupID), so each aggregate's commits are delivered in
// order, and the MessageDeduplicationId identifies the commit by aggregate
// and version (DeduplicationID), so a commit published twice within 5
// minutes (a retried Append, a restarted relay) is delivered once. It is
// not the CommitID: commits of different aggregates may share a caller-set
// CommitID, and SNS deduplicates across the whole topic. Standard topics
// get neither, and deliver at least once, in no guaranteed order:
// subscribers order an aggregate's commits by version and drop the
// versions they have seen (by aggregateId and version, not by commitId
// alone).
//
// SNS refuses messages over 256 KB (body and attributes). A commit whose
// message would exceed it is announced by a marker: the envelope without
// events and metadata, with "eventsOmitted": true, and the attribute
// eventsOmitted "true". Envelope.Load reads such a commit from the store.
// Publishing never fails for size.
//
// # Failures
//
// SNS retries transient errors (throttling, 5xx, refused or broken
// connections) with exponential backoff for up to SNSConfig.RetryFor (5 s
// by default), on top of the SDK's own attempts, and stops at once when
// ctx ends. Other errors (no such topic, no permission) are not retried.
// When Notify fails, Append returns the stored commit and an
// *eventstore.NotifyError: the commit IS durable, and must not be treated
// as a failed write. Calling Append again with the returned commit (same
// CommitID) stores nothing new and publishes again.
//
// A Relay retries failed publishes without end (backoff up to 5 s,
// reported to RelayConfig.OnError): it never skips a commit.
//
// # Relay checkpoint
//
// The relay's checkpoint is one item in a table keyed like the store's
// (aggregateId S, version N), normally the store's own table: version -1 of
// aggregate "$eventstore/relay/NAME", invisible to Query, Scan and Tail. It
// holds checkpoint (the live Tail's watermark: every commit with a CommitID
// up to it was published; see eventstore.OnCheckpoint), owner and
// leaseUntil. A relay takes the lease when it is free or expired, renews it
// every third of RelayConfig.LeaseDuration (30 s by default), and writes
// the checkpoint when the watermark covers commits published since its
// last write (an idle relay writes nothing) with an update conditional on
// still owning the lease. So of several relays with one name, one publishes
// and the others stand by; one that stalls past its lease is fenced off
// (ErrLeaseLost) and stands by in turn; and the checkpoint never passes a
// commit that was not published. After a crash or a hand-over, the commits
// published after the checkpoint are published again: those of the last
// settle window and a second (10-11 s by default), each recognisable by
// its aggregateId and version attributes, and dropped by a FIFO topic
// within its 5-minute deduplication window. Each
// checkpoint write costs one write unit; with DynamoDB Streams on the
// table, those writes show up as records that eventstore.ParseImage
// reports as ErrNotCommit (give the relay another table to avoid them).
// On its checkpoint the relay needs dynamodb:GetItem and
// dynamodb:UpdateItem only, which IAM can confine to that one item with
// the condition dynamodb:LeadingKeys = "$eventstore/relay/NAME"; the
// table guide (docs/table.md) gives its whole policy.
//
// # Caveats
//
//   - The relay's at-least-once delivery repeats up to a settle window of
//     commits after a restart (see Relay checkpoint): subscribers of a
//     standard topic keep the last version they handled per aggregate.
//   - fauxqs 1.9.2, the emulator the tests use, matches no filter policy
//     against String.Array elements (AWS does), and fans out the entries of
//     a PublishBatch of 10 in the wrong order (entry 10 second); AWS keeps
//     the order.
package notifier
