package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// The shard schedule: how many scan shards are in force at each CommitID,
// as the table's metadata item records it, and what a store knows of it.
// See doc.go, "Shard schedule".

// ReshardLead is how far in the future a reshard places its boundary: a
// commit whose CommitID's time is at least ReshardLead after the moment
// Store.Reshard writes the new count is sharded by it. A store that read
// the schedule at time r relies on it for CommitIDs up to r +
// ReshardLead/2, and reads it again once less than ReshardLead/4 of that
// is left, so every store re-reads the metadata item about every 15 s.
// See doc.go, "Shard schedule".
const ReshardLead = time.Minute

// ShardEpoch is one entry of a table's shard schedule: from the CommitID
// From on ("" for the first entry: from the beginning), commits are
// spread over Shards shards of the scan index.
type ShardEpoch struct {
	From   string
	Shards int
}

// ShardSchedule is a table's shard schedule, oldest entry first. Each
// entry's count is a multiple of the one before (and larger), and each
// From is greater than the one before. See Store.Reshard.
type ShardSchedule []ShardEpoch

// Shards returns the shard count in force at commitID.
func (sc ShardSchedule) Shards(commitID string) int {
	n := 1
	for _, e := range sc {
		if e.From > commitID {
			break
		}
		n = e.Shards
	}
	return n
}

// Shard returns the shard of the scan index that holds the commit of
// aggregateID with commitID: the hash of the aggregate id modulo the count
// in force at commitID.
func (sc ShardSchedule) Shard(aggregateID, commitID string) int {
	return int(aggregateHash(aggregateID) % uint32(max(sc.Shards(commitID), 1)))
}

// last is the newest entry.
func (sc ShardSchedule) last() ShardEpoch { return sc[len(sc)-1] }

// has reports whether n is one of the schedule's counts.
func (sc ShardSchedule) has(n int) bool {
	for _, e := range sc {
		if e.Shards == n {
			return true
		}
	}
	return false
}

// maxScheduleShards bounds a count, far above any table's need, so that
// no stored count overflows a shard number.
const maxScheduleShards = 1 << 20

// validate checks the rules of a schedule.
func (sc ShardSchedule) validate() error {
	if len(sc) == 0 {
		return errors.New("no entry")
	}
	for i, e := range sc {
		switch {
		case e.Shards < 1 || e.Shards > maxScheduleShards:
			return fmt.Errorf("entry %d: %d shards is out of range", i, e.Shards)
		case i == 0 && e.From != "":
			return fmt.Errorf("entry 0 starts at %q, not at the beginning", e.From)
		case i == 0:
			continue
		}
		if _, err := parseCommitID(e.From); err != nil {
			return fmt.Errorf("entry %d: from: %v", i, err)
		}
		prev := sc[i-1]
		if e.From <= prev.From || e.Shards <= prev.Shards || e.Shards%prev.Shards != 0 {
			return fmt.Errorf("entry %d (%d shards from %s) does not follow entry %d (%d shards from %q): counts must grow by multiples, boundaries increase",
				i, e.Shards, e.From, i-1, prev.Shards, prev.From)
		}
	}
	return nil
}

// aggregateHash is the hash of an aggregate id that places it in a shard
// and a partition: FNV-1a, 32 bits.
func aggregateHash(aggregateID string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(aggregateID))
	return h.Sum32()
}

// Attributes of the metadata item for the schedule (see item.go for the
// others): shardSchedule (L of M{from S, n N}; the first entry has no
// from), written by the first reshard, which also turns scanShards into
// reshardedMarker, a string: a store of a version that knows no schedule
// reads scanShards as a number, fails, and refuses every operation.
const (
	attrSchedule     = "shardSchedule"
	attrScheduleFrom = "from"
	attrScheduleN    = "n"
	reshardedMarker  = "resharded: the shard count changes over time (see shardSchedule); this table needs an eventstore version with shard schedules"
)

// scheduleOf reads the schedule of a metadata item: its shardSchedule, or,
// on a table never resharded, one entry of its scanShards.
func scheduleOf(item map[string]types.AttributeValue) (ShardSchedule, error) {
	raw, ok := item[attrSchedule]
	if !ok {
		n, err := numberAttr(item, attrScanShards)
		if err == nil && (n < 1 || n > maxScheduleShards) {
			err = fmt.Errorf("%s: %d is out of range", attrScanShards, n)
		}
		if err != nil {
			return nil, err
		}
		return ShardSchedule{{Shards: int(n)}}, nil
	}
	list, ok := raw.(*types.AttributeValueMemberL)
	if !ok {
		return nil, fmt.Errorf("%s: want a list, have %T", attrSchedule, raw)
	}
	sc := make(ShardSchedule, 0, len(list.Value))
	for i, v := range list.Value {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return nil, fmt.Errorf("%s entry %d: want a map, have %T", attrSchedule, i, v)
		}
		n, err := numberAttr(m.Value, attrScheduleN)
		if err == nil && (n < 1 || n > maxScheduleShards) {
			err = fmt.Errorf("%d shards is out of range", n)
		}
		if err != nil {
			return nil, fmt.Errorf("%s entry %d: %v", attrSchedule, i, err)
		}
		e := ShardEpoch{Shards: int(n)}
		if _, has := m.Value[attrScheduleFrom]; has {
			if e.From, err = stringAttr(m.Value, attrScheduleFrom); err != nil {
				return nil, fmt.Errorf("%s entry %d: %v", attrSchedule, i, err)
			}
		}
		sc = append(sc, e)
	}
	if err := sc.validate(); err != nil {
		return nil, fmt.Errorf("%s: %v", attrSchedule, err)
	}
	return sc, nil
}

// scheduleValue is the attribute value of a schedule.
func scheduleValue(sc ShardSchedule) types.AttributeValue {
	list := make([]types.AttributeValue, len(sc))
	for i, e := range sc {
		m := map[string]types.AttributeValue{attrScheduleN: &types.AttributeValueMemberN{Value: strconv.Itoa(e.Shards)}}
		if e.From != "" {
			m[attrScheduleFrom] = &types.AttributeValueMemberS{Value: e.From}
		}
		list[i] = &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberL{Value: list}
}

// knownSchedule is what a store knows of the schedule: the schedule it
// read last, and until when it may rely on it.
type knownSchedule struct {
	mu    sync.Mutex
	sched ShardSchedule
	// until: a reshard not in sched places its boundary at a CommitID
	// time after until (see doc.go, "Shard schedule").
	until time.Time
}

// learn keeps sched, read by a request sent at start, if it is newer than
// what the store knows.
func (k *knownSchedule) learn(sched ShardSchedule, start time.Time, lead time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if until := start.Add(lead / 2); until.After(k.until) {
		k.sched, k.until = sched, until
	}
}

// current is the schedule the store knows, or the store's own count
// before it read any (used only to size an item before any request).
func (s *Store) current() ShardSchedule {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	if s.sched.sched == nil {
		return ShardSchedule{{Shards: s.cfg.ScanShards}}
	}
	return s.sched.sched
}

// scheduleThrough returns a schedule that is right for every CommitID up
// to the time t: the one the store knows, or, when it relies on it for
// less than t (or less than ReshardLead/4 from now), the one it reads from
// the table again. A CommitID further ahead than a fresh read covers (a
// caller-set one more than ReshardLead/2 ahead) is refused, ErrInvalidCommit.
func (s *Store) scheduleThrough(ctx context.Context, t time.Time) (ShardSchedule, error) {
	lead := s.cfg.reshardLead
	s.sched.mu.Lock()
	sched, until := s.sched.sched, s.sched.until
	s.sched.mu.Unlock()
	if sched == nil { // the store's first look at the table: its check learns the schedule too
		if err := s.checkShards(ctx); err != nil {
			return nil, err
		}
		s.sched.mu.Lock()
		sched, until = s.sched.sched, s.sched.until
		s.sched.mu.Unlock()
	}
	now := s.cfg.now()
	if sched != nil && until.After(t) && until.After(now.Add(lead/4)) {
		return sched, nil
	}
	item, err := s.metaItem(ctx)
	if err != nil {
		return nil, err
	}
	if sched, err = scheduleOf(item); err != nil {
		return nil, fmt.Errorf("%w: metadata item of table %s: %v", ErrTableMismatch, s.cfg.Table, err)
	}
	s.sched.learn(sched, now, lead)
	if until := now.Add(lead / 2); !until.After(t) {
		return nil, fmt.Errorf("%w: %w: commit id time %v is ahead of what the shard schedule covers (%v, ReshardLead/2 after now)",
			ErrInvalidCommit, errCommitIDAhead, t, until)
	}
	return sched, nil
}

// scheduleFor is scheduleThrough for a commit's CommitID.
func (s *Store) scheduleFor(ctx context.Context, commitID string) error {
	id, err := parseCommitID(commitID)
	if err != nil {
		return fmt.Errorf("%w: commit id: %v", ErrInvalidCommit, err)
	}
	_, err = s.scheduleThrough(ctx, commitTime(id))
	return err
}

// piece is a range of CommitIDs under one shard count.
type piece struct {
	lo, hi ulid.ULID
	n      int
}

// split cuts [lo, hi] at the schedule's boundaries: one piece per entry
// the range meets, each with its count.
func (sc ShardSchedule) split(lo, hi ulid.ULID) []piece {
	var out []piece
	for i, e := range sc {
		from := ulid.ULID{}
		if e.From != "" {
			from, _ = parseCommitID(e.From) // validated
		}
		to := maxULID()
		if i+1 < len(sc) {
			next, _ := parseCommitID(sc[i+1].From)
			to, _ = decrement(next)
		}
		if from.Compare(lo) < 0 {
			from = lo
		}
		if to.Compare(hi) > 0 {
			to = hi
		}
		if from.Compare(to) <= 0 {
			out = append(out, piece{from, to, e.Shards})
		}
	}
	return out
}

// checkCount refuses a store whose Config.ScanShards is none of the
// schedule's counts: it was configured for another table, or for a count
// the table never had. Any count of the schedule is accepted, since the
// schedule, not Config.ScanShards, decides the shard of every commit:
// stores configured before a reshard go on working after it.
func (s *Store) checkCount(sched ShardSchedule) error {
	if sched.has(s.cfg.ScanShards) {
		return nil
	}
	if len(sched) == 1 {
		return fmt.Errorf("%w: table %s was created with ScanShards %d, the store has %d",
			ErrShardMismatch, s.cfg.Table, sched[0].Shards, s.cfg.ScanShards)
	}
	return fmt.Errorf("%w: table %s has the shard schedule %v, which has no count %d (the store's ScanShards)",
		ErrShardMismatch, s.cfg.Table, sched, s.cfg.ScanShards)
}

// String formats the schedule as its counts from their CommitIDs.
func (sc ShardSchedule) String() string {
	out := ""
	for i, e := range sc {
		if i > 0 {
			out += ", "
		}
		from := e.From
		if from == "" {
			from = "the beginning"
		}
		out += fmt.Sprintf("%d shards from %s", e.Shards, from)
	}
	return "[" + out + "]"
}
