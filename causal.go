package eventstore

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Causal order. A commit at version n > 0 is stored only if version n-1 is
// a stored commit, and its CommitID is greater than version n-1's; so
// within an aggregate CommitIDs increase with versions, and the global log
// (CommitID order) keeps every aggregate in version order whatever the
// writers' clocks. The check is a read before the conditional put, not
// part of it, and that is safe: a stored commit never changes (a fence
// only ever takes a free key, and a commit replaces only a fence), so
// what the read saw of version n-1 stays true when version n lands.

// predecessor returns the CommitID of version-1 of aggregateID: from the
// Store's lastSeen cache when it holds exactly that version (no request),
// otherwise with one consistent GetItem projecting the commit id and the
// fence attribute. No commit there is a *VersionGapError, whose Expected
// version costs one more (latest) Query on this error path only. An
// aggregate whose commits TTL deleted may pass the check from a stale
// cache entry; TTL is for ephemeral streams only.
func (s *Store) predecessor(ctx context.Context, aggregateID string, version int64) (string, error) {
	if version == 0 {
		return "", nil
	}
	if id, ok := s.seen.commitAt(aggregateID, version-1); ok {
		return id, nil
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.cfg.Table),
		Key:                      keyOf(aggregateID, version-1),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#c, #r, #d"),
		ExpressionAttributeNames: map[string]string{"#c": attrCommitID, "#r": attrRefused, "#d": attrDeleted},
	}, s.opts...)
	if err != nil {
		return "", fmt.Errorf("eventstore: read version %d of aggregate %q, the predecessor of version %d: %w",
			version-1, aggregateID, version, err)
	}
	if isDeleted(out.Item) {
		return "", deletedError(aggregateID, "append to it")
	}
	if out.Item == nil || isFence(out.Item) {
		return "", s.gap(ctx, aggregateID, version)
	}
	id, err := stringAttr(out.Item, attrCommitID)
	if err == nil {
		_, err = parseCommitID(id)
	}
	if err != nil {
		return "", fmt.Errorf("%w: aggregate %q version %d: %v", ErrCorruptCommit, aggregateID, version-1, err)
	}
	s.seen.add(aggregateID, version-1, id)
	return id, nil
}

// gap is the error of an append at version of aggregateID whose
// predecessor is not stored, naming the next free version.
func (s *Store) gap(ctx context.Context, aggregateID string, version int64) error {
	latest, _, err := s.latest(ctx, aggregateID)
	if err != nil {
		return fmt.Errorf("%w (and reading the latest version failed: %w)",
			&VersionGapError{AggregateID: aggregateID, Version: version, Expected: -1}, err)
	}
	return &VersionGapError{AggregateID: aggregateID, Version: version, Expected: latest + 1}
}

// follow makes c's CommitID greater than prev, its predecessor's ("" at
// version 0). A CommitID the store assigned (own; see assigned) that is
// not greater, because this writer's clock is behind the predecessor's
// writer's, is replaced by a random ULID at prev's millisecond + 1: never
// a deterministic increment of prev, so that racing writers do not make
// the same id. Replacing it is safe even on a retry: a put is sent only
// with a CommitID greater than the predecessor's, so one that is not was
// never stored there. A caller-set CommitID that is not greater is
// refused, before any request; so is every CommitID after a predecessor
// at the largest ULID time, which none can follow.
func follow(c *Commit, prev string, own bool) error {
	if prev == "" || c.CommitID > prev {
		return nil
	}
	if !own {
		return fmt.Errorf("%w: aggregate %q version %d: commit id %s is not greater than %s, the commit id of version %d",
			ErrInvalidCommit, c.AggregateID, c.Version, c.CommitID, prev, c.Version-1)
	}
	p, err := parseCommitID(prev)
	if err != nil {
		return err
	}
	id, err := newCommitIDAt(p.Time() + 1)
	if err != nil {
		return fmt.Errorf("%w: %w: aggregate %q version %d: version %d has commit id %s",
			ErrInvalidCommit, errNoNextCommitID, c.AggregateID, c.Version, c.Version-1, prev)
	}
	c.CommitID, c.CommittedAt = id.String(), commitTime(id)
	return nil
}

// chain checks and links the commits of one append (one commit, or an
// AppendAll group): the versions of each aggregate must be contiguous,
// the lowest one's predecessor stored (see predecessor; the reads of
// several aggregates run in parallel), and each CommitID greater than its
// predecessor's (see follow). It returns each commit's predecessor
// CommitID, "" at version 0.
func (s *Store) chain(ctx context.Context, commits []Commit, own []bool) ([]string, error) {
	groups := map[string][]int{}
	var order []string
	for i, c := range commits {
		if groups[c.AggregateID] == nil {
			order = append(order, c.AggregateID)
		}
		groups[c.AggregateID] = append(groups[c.AggregateID], i)
	}
	firsts := make([]int, len(order))
	for g, id := range order {
		ix := groups[id]
		slices.SortFunc(ix, func(a, b int) int { return cmp.Compare(commits[a].Version, commits[b].Version) })
		for k := 1; k < len(ix); k++ {
			if v, want := commits[ix[k]].Version, commits[ix[k-1]].Version+1; v != want {
				return nil, &VersionGapError{AggregateID: id, Version: v, Expected: want}
			}
		}
		firsts[g] = ix[0]
	}
	prevs := make([]string, len(commits))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for g, i := range firsts {
		wg.Go(func() { prevs[i], errs[g] = s.predecessor(ctx, commits[i].AggregateID, commits[i].Version) })
	}
	wg.Wait()
	for g, id := range order {
		if err := errs[g]; errors.Is(err, ErrVersionGap) {
			return nil, err
		} else if err != nil {
			c := commits[firsts[g]]
			return nil, failedBefore(fmt.Errorf("eventstore: append aggregate %q version %d (commit %s, not stored: its predecessor could not be read; retry): %w",
				c.AggregateID, c.Version, c.CommitID, err))
		}
		for k, i := range groups[id] {
			if k > 0 {
				prevs[i] = commits[groups[id][k-1]].CommitID
			}
			if err := follow(&commits[i], prevs[i], own[i]); err != nil {
				return nil, err
			}
		}
	}
	return prevs, nil
}

// landed notes a commit Append now knows is stored: the lastSeen cache
// learns it, and if its writer deadline has passed, it may have landed
// after it (Append could not tell sooner), so readers past its time may
// have missed it: the Commit says so in LandedLate, and the Observer hears
// of a late landing.
func (s *Store) landed(ctx context.Context, c Commit) Commit {
	s.seen.add(c.AggregateID, c.Version, c.CommitID)
	if s.cfg.now().After(c.CommittedAt.Add(s.cfg.MaxCommitLatency)) {
		c.LandedLate = true
		note(ctx, func(o *Observation) { o.LateLandings++ })
	}
	return c
}

// nextLink returns the predecessor of c's version; when reread, it first
// sets c.Version to the one after the latest, whose CommitID is then the
// predecessor: no request beyond the latest Query.
func (s *Store) nextLink(ctx context.Context, c *Commit, reread bool) (string, error) {
	if !reread {
		return s.predecessor(ctx, c.AggregateID, c.Version)
	}
	latest, holder, err := s.latest(ctx, c.AggregateID)
	if err != nil {
		return "", failedBefore(err)
	}
	if latest == math.MaxInt64 {
		return "", fmt.Errorf("%w: %w: aggregate %q is at version %d, nothing is written", ErrInvalidCommit, errNoNextVersion, c.AggregateID, latest)
	}
	c.Version = latest + 1
	return holder, nil
}

// defaultLastSeen is how many aggregates a Store remembers the newest
// commit of: about 1 MB at most.
const defaultLastSeen = 10_000

// lastSeen remembers, for the aggregates a Store used most recently, the
// highest version it saw stored and that commit's CommitID: Query, latest
// (LatestVersion, Exists, AppendNext, AppendNew) and successful appends
// feed it. A stored commit never changes, so an entry stays true (unless
// TTL deletes the commit; see predecessor). Least recently used entries
// are dropped past its capacity; capacity 0 remembers nothing. It is safe
// for concurrent use.
type lastSeen struct {
	mu       sync.Mutex
	capacity int
	order    *list.List // of *seenEntry, most recent first
	entries  map[string]*list.Element
}

type seenEntry struct {
	aggregateID string
	version     int64
	commitID    string
}

func newLastSeen(capacity int) *lastSeen {
	return &lastSeen{capacity: capacity, order: list.New(), entries: make(map[string]*list.Element)}
}

// add records that commitID is stored at version of aggregateID, unless a
// higher version is known.
func (l *lastSeen) add(aggregateID string, version int64, commitID string) {
	if l.capacity <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[aggregateID]; ok {
		l.order.MoveToFront(el)
		if e := el.Value.(*seenEntry); version >= e.version {
			e.version, e.commitID = version, commitID
		}
		return
	}
	l.entries[aggregateID] = l.order.PushFront(&seenEntry{aggregateID, version, commitID})
	if l.order.Len() > l.capacity {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.entries, oldest.Value.(*seenEntry).aggregateID)
	}
}

// commitAt returns the CommitID of version of aggregateID if that is the
// highest version remembered.
func (l *lastSeen) commitAt(aggregateID string, version int64) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[aggregateID]
	if !ok {
		return "", false
	}
	e := el.Value.(*seenEntry)
	if e.version != version {
		return "", false
	}
	l.order.MoveToFront(el)
	return e.commitID, true
}
