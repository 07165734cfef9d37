// Package projection runs named consumers of an event store's log: a
// handler called with every commit, at least once, each aggregate's
// commits in version order, shared by any number of processes, rebuilt
// from the beginning and then followed live, with the consumer's state
// (checkpoints, leases, parked aggregates) in the store's own table.
//
//	r, err := projection.NewRunner(projection.Config{
//		Store: store, DynamoDB: client, Table: "events", Name: "balances",
//		Handler: projection.HandlerFunc(apply),
//	})
//	...
//	err = r.Run(ctx) // until ctx ends
//
// docs/projections.md is the guide: how to write a handler, how many
// processes to run, what a restart repeats.
//
// # Partitions and leases
//
// The log is split into Config.Partitions partitions by aggregate
// (eventstore.Partition), each read by one live Tail (eventstore.Live)
// from its own checkpoint. A process holds a partition through a lease in
// the table: an item taken with a conditional write when free or expired,
// renewed every third of LeaseDuration, and carrying a term, the fencing
// token, that grows at every acquire (and every Admin.Reset). Every write
// of the holder (checkpoint, parked aggregates, renewal, release) is
// conditional on its token and term, so a process that stalled past its
// lease, or was reset, can never move the partition's state again. Each
// process also renews a membership entry; the live members, sorted, each
// aim at Partitions/members partitions (the first Partitions%members one
// more): a process takes free or expired partitions up to its share and
// gives back those above it, never taking a partition whose holder renews.
// A crashed process's partitions are taken over at most LeaseDuration plus
// a third of it after its last renewal.
//
// # Delivery
//
// A partition's commits are handed to the handler one at a time, in the
// order of the live Tail: each aggregate in version order. The checkpoint
// is the Tail's watermark (eventstore.OnCheckpoint), stored at most every
// CheckpointEvery, and only once every commit up to it was handled (the
// handler returned nil) or belongs to a parked aggregate; it never moves
// backwards, except by Admin.Reset. A restarted partition (another
// process, a crash, a rebalance) starts from the checkpoint, which trails
// the log by the store's settle window, so commits handled in that window
// are handed again: at least once. A process remembers the last version
// handled per aggregate for that window and drops the repeats it would
// hand itself; a repeat after a hand-over to another process reaches the
// handler, which makes its effect exactly-once by recording the version
// it applied (see the package example).
//
// # Parked aggregates
//
// A handler error (or panic) is retried after RetryDelay, doubling up to
// 5 s, MaxAttempts times in all; then the aggregate is parked: its
// first unhandled version is stored in the partition's item, and its
// later commits are not handed to the handler while the others flow. The
// checkpoint may pass them: on a restart, or when an operator asks
// (Admin.Retry, Admin.Skip, the eventstore command's projection retry and
// skip), the partition's holder reads the aggregate's commits with a
// consistent Store.Query from the stored version (the next one for a
// skip) and hands them in order; then the aggregate flows again, or is
// parked anew at a commit that fails. While a commit is retried, the
// other aggregates of its partition wait (at most MaxAttempts pauses).
//
// # Progress
//
// Config.OnProgress hears, per partition, each checkpoint write and the
// moment it caught up (the rebuild is over and it follows the log live),
// with the lag of the last commit handled; the same is stored in the
// partition's item for Admin.Status.
package projection
