package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// verifier collects what verify has seen and the problems it found.
type verifier struct {
	e        *env
	problems int
	commits  int
	versions map[string][]version // per aggregate, in scan order
	blobKeys map[string]bool      // keys of offloaded events items point to
	// snapshots is the highest snapshot version of each aggregate: an
	// aggregate whose early commits Expire removed starts after it.
	snapshots map[string]int64
	nSnaps    int
	now       time.Time
}

type version struct {
	n         int64
	commitID  string
	tombstone bool // Delete's: the aggregate's earlier commits expired with it
}

func (v *verifier) report(format string, args ...any) {
	v.problems++
	fmt.Fprintln(v.e.stdout, escaped(fmt.Sprintf(format, args...)))
}

// runVerify reads every item of the table with a raw Scan (so that it goes
// on past a bad item), decodes each as Query would, blobs included, checks
// that Scan reads it (its shard), and then checks each aggregate's
// versions and, with -bucket, the bucket for orphaned blobs. It finds
// every foreign item of the scan index, those in a shard Scan does not
// read included. It holds one entry per commit in memory.
func runVerify(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	v := &verifier{e: e, versions: map[string][]version{}, blobKeys: map[string]bool{}, snapshots: map[string]int64{}, now: time.Now()}
	if err := v.items(ctx, c); err != nil {
		return err
	}
	v.order()
	if c.blobs != nil {
		if err := v.orphans(ctx, c); err != nil {
			return err
		}
	}
	if v.nSnaps > 0 {
		fmt.Fprintf(e.stdout, "verify: %d snapshots\n", v.nSnaps)
	}
	fmt.Fprintf(e.stdout, "verify: %d commits of %d aggregates, %d problems\n", v.commits, len(v.versions), v.problems)
	if v.problems > 0 {
		return errProblems
	}
	return nil
}

func (v *verifier) items(ctx context.Context, c *conn) error {
	pages := dynamodb.NewScanPaginator(c.client, &dynamodb.ScanInput{
		TableName: aws.String(v.e.opts.table), ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan table %s: %w", v.e.opts.table, err)
		}
		for _, item := range page.Items {
			v.item(ctx, c, item)
		}
	}
	return nil
}

// item checks one item of the table: a commit that decodes and that Scan
// reads (it is in the scan index, in one of the table's shards), or an
// item of the library's (ErrNotCommit) that is not in the scan index,
// where Scan would fail on it.
func (v *verifier) item(ctx context.Context, c *conn, item map[string]types.AttributeValue) {
	if s, ok := stringOf(item, "eventsKey"); ok {
		v.blobKeys[s] = true
	}
	if v.expired(item) {
		return // invisible to every read; DynamoDB's Time to Live removes it
	}
	agg, _ := stringOf(item, "aggregateId")
	ver, _ := numberOf(item, "version")
	id, hasID := stringOf(item, "commitId")
	shard, hasShard := numberOf(item, "shard")
	commit, err := c.store.DecodeItem(ctx, item)
	switch {
	case errors.Is(err, eventstore.ErrNotCommit) && hasID && hasShard:
		v.report("not a commit: aggregate %q version %s is in the scan index (commitId %q, shard %s), where Scan fails on it", agg, ver, id, shard)
	case errors.Is(err, eventstore.ErrNotCommit) && item["snapshotTag"] != nil:
		v.snapshot(ctx, c, item)
	case errors.Is(err, eventstore.ErrNotCommit):
	case err != nil:
		v.report("undecodable: aggregate %q version %s: %v", agg, ver, oneLine(err.Error()))
		if hasID {
			v.note(agg, ver, id)
		}
	default:
		v.commits++
		v.versions[commit.AggregateID] = append(v.versions[commit.AggregateID], version{commit.Version, commit.CommitID, commit.IsTombstone()})
		if !hasShard {
			v.report("shard: aggregate %q version %d commit %s has no shard: not in the scan index (Scan never reads it)",
				commit.AggregateID, commit.Version, commit.CommitID)
		} else if n, err := strconv.Atoi(shard); err != nil || n < 0 || n >= c.shards {
			v.report("shard: aggregate %q version %d commit %s has shard %s, not one of 0 to %d (Scan never reads it)",
				commit.AggregateID, commit.Version, commit.CommitID, shard, c.shards-1)
		} else if want := c.sched.Shard(commit.AggregateID, commit.CommitID); n != want {
			v.report("shard: aggregate %q version %d commit %s has shard %s; its CommitID's epoch (%d shards) assigns %d (Scan never reads it)",
				commit.AggregateID, commit.Version, commit.CommitID, shard, c.sched.Shards(commit.CommitID), want)
		}
	}
}

// note records the key of an undecodable item that still has one, so that
// it does not also show as a gap.
func (v *verifier) note(agg, ver, commitID string) {
	if n, err := strconv.ParseInt(ver, 10, 64); err == nil && n >= 0 && agg != "" { // a negative version is never a commit's
		v.versions[agg] = append(v.versions[agg], version{n: n, commitID: commitID})
	}
}

// order checks, per aggregate, that versions run without gaps and that
// each version's CommitID exceeds the one before: from 0, or from after a
// snapshot (Expire removed the commits it covers), or from a tombstone
// (Delete expired the commits before it).
func (v *verifier) order() {
	ids := make([]string, 0, len(v.versions))
	for id := range v.versions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		vs := v.versions[id]
		sort.Slice(vs, func(i, j int) bool { return vs[i].n < vs[j].n })
		if snap, ok := v.snapshots[id]; vs[0].n != 0 && !vs[0].tombstone && (!ok || snap < vs[0].n-1) {
			v.report("gap: aggregate %q starts at version %d (versions 0 to %d missing)", id, vs[0].n, vs[0].n-1)
		}
		for i := 1; i < len(vs); i++ {
			prev, cur := vs[i-1], vs[i]
			if cur.n != prev.n+1 {
				v.report("gap: aggregate %q versions %d to %d missing (between %d and %d)", id, prev.n+1, cur.n-1, prev.n, cur.n)
			}
			if cur.commitID <= prev.commitID {
				v.report("order: aggregate %q version %d commit %s is not after version %d commit %s",
					id, cur.n, cur.commitID, prev.n, prev.commitID)
			}
		}
	}
}

// snapshot checks a snapshot item: it decodes, its state (offloaded or
// not) included.
func (v *verifier) snapshot(ctx context.Context, c *conn, item map[string]types.AttributeValue) {
	snap, err := c.store.DecodeSnapshot(ctx, item)
	if err != nil {
		agg, _ := stringOf(item, "aggregateId")
		v.report("undecodable snapshot: aggregate %q: %v", agg, oneLine(err.Error()))
		return
	}
	v.nSnaps++
	if old, ok := v.snapshots[snap.AggregateID]; !ok || snap.Version > old {
		v.snapshots[snap.AggregateID] = snap.Version
	}
}

// expired reports whether an item is past its expiresAt: no read sees it.
func (v *verifier) expired(item map[string]types.AttributeValue) bool {
	at, ok := numberOf(item, "expiresAt")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(at, 10, 64)
	return err == nil && n <= v.now.Unix()
}

// orphans reports the blobs of the bucket that no item points to and that
// Store.Orphaned confirms belong to no commit.
func (v *verifier) orphans(ctx context.Context, c *conn) error {
	for key, err := range c.blobs.Keys(ctx) {
		if err != nil {
			return fmt.Errorf("list bucket %s: %w", v.e.opts.bucket, err)
		}
		if v.blobKeys[key] {
			continue
		}
		orphan, err := c.store.Orphaned(ctx, key)
		if err != nil {
			v.report("blob %s: %v", key, oneLine(err.Error()))
			continue
		}
		if orphan {
			v.report("orphaned blob: %s (no commit points to it; delete it)", key)
		}
	}
	return nil
}
