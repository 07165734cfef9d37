package projection

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// The consumer's items, in the event store's table (keyed aggregateId S,
// version N) at negative versions of aggregate ids starting
// "$eventstore/", which the store recognises as its own and never yields:
//
//	"$eventstore/projections"      -1   the registry: names (SS), every consumer ever run
//	"$eventstore/projection/NAME"  -1   the header: partitions (N), members (M: process token -> lease end, unix ms)
//	"$eventstore/projection/NAME"  -2-i partition i: checkpoint, owner, term, leaseUntil, parked, progress
//
// One home for these names: every attribute is named here.
const (
	registryID       = "$eventstore/projections"
	consumerPrefix   = "$eventstore/projection/"
	headerVersion    = -1
	attrAggregateID  = "aggregateId"
	attrVersion      = "version"
	attrNames        = "names"      // SS, registry: the consumers' names
	attrPartitions   = "partitions" // N, header: the partition count
	attrMembers      = "members"    // M, header: process token -> lease end (unix ms)
	attrCheckpoint   = "checkpoint" // S: every commit up to it was handled or parked; "" the beginning
	attrOwner        = "owner"      // S: token of the process holding the lease
	attrTerm         = "term"       // N: the fencing token, +1 at each acquire and each reset
	attrLeaseUntil   = "leaseUntil" // N: unix ms when the lease ends; 0 when released
	attrParked       = "parked"     // M: aggregate id -> parked record
	attrCaughtUp     = "caughtUp"   // BOOL: the term caught up with the log
	attrLagMs        = "lagMs"      // N: the last reported lag, ms
	attrHandled      = "handled"    // N: commits handled in the current term
	attrReportedAt   = "reportedAt" // N: unix ms of the last checkpoint write
	parkedVersion    = "version"    // N: first version not handled
	parkedCommitID   = "commitId"   // S: its CommitID
	parkedError      = "error"      // S: the handler's last error
	parkedAttempts   = "attempts"   // N: attempts made
	parkedAt         = "at"         // N: unix ms when parked
	parkedAction     = "action"     // S: "retry" or "skip", set by an operator
	maxErrorInParked = 1000         // bytes of the handler's error kept
)

// Operator actions on a parked aggregate.
const (
	actionRetry = "retry"
	actionSkip  = "skip"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func ms(t time.Time) types.AttributeValue {
	return n(t.UnixMilli())
}

// consumerID is the aggregate id of consumer name's items.
func consumerID(name string) string { return consumerPrefix + name }

func key(id string, version int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrAggregateID: s(id), attrVersion: n(version)}
}

// partitionVersion is the version of partition i's item.
func partitionVersion(i int) int64 { return -2 - int64(i) }

// Parked is an aggregate whose handler failed Config.MaxAttempts times: its
// commits from Version on are held back until an operator retries or skips.
type Parked struct {
	AggregateID string
	Partition   int
	Version     int64  // the first version not handled
	CommitID    string // its CommitID
	Error       string // the handler's last error
	Attempts    int
	At          time.Time // when it was parked
	Action      string    // "retry" or "skip" once an operator asked, else ""
}

// partitionState is one partition's item, decoded.
type partitionState struct {
	index      int
	checkpoint string
	owner      string
	term       int64
	leaseUntil time.Time
	parked     map[string]Parked
	caughtUp   bool
	lag        time.Duration
	handled    int64
	reportedAt time.Time
}

// decodePartition decodes a partition item; an error wraps ErrCorruptState.
func decodePartition(item map[string]types.AttributeValue, index int) (partitionState, error) {
	p := partitionState{index: index, parked: map[string]Parked{}}
	d := decoder{item: item}
	p.checkpoint = d.str(attrCheckpoint)
	p.owner = d.str(attrOwner)
	p.term = d.num(attrTerm)
	p.leaseUntil = time.UnixMilli(d.num(attrLeaseUntil))
	p.lag = time.Duration(d.num(attrLagMs)) * time.Millisecond
	p.handled = d.num(attrHandled)
	p.reportedAt = time.UnixMilli(d.num(attrReportedAt))
	if v, ok := item[attrCaughtUp].(*types.AttributeValueMemberBOOL); ok {
		p.caughtUp = v.Value
	}
	if p.checkpoint != "" && !validCommitID(p.checkpoint) {
		d.fail(attrCheckpoint, item[attrCheckpoint])
	}
	if v, ok := item[attrParked]; ok {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			d.fail(attrParked, v)
		} else {
			for agg, rec := range m.Value {
				p.parked[agg] = d.parked(agg, index, rec)
			}
		}
	}
	if d.err != nil {
		return p, fmt.Errorf("%w: partition %d: %w", ErrCorruptState, index, d.err)
	}
	return p, nil
}

// decoder reads attributes, keeping the first problem.
type decoder struct {
	item map[string]types.AttributeValue
	err  error
}

func (d *decoder) fail(name string, v types.AttributeValue) {
	if d.err == nil {
		d.err = fmt.Errorf("attribute %s is %T %v", name, v, v)
	}
}

func (d *decoder) str(name string) string {
	v, ok := d.item[name]
	if !ok {
		return ""
	}
	sv, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		d.fail(name, v)
		return ""
	}
	return sv.Value
}

func (d *decoder) num(name string) int64 {
	v, ok := d.item[name]
	if !ok {
		return 0
	}
	nv, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		d.fail(name, v)
		return 0
	}
	x, err := strconv.ParseInt(nv.Value, 10, 64)
	if err != nil {
		d.fail(name, v)
	}
	return x
}

func (d *decoder) parked(agg string, index int, v types.AttributeValue) Parked {
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		d.fail(attrParked+"."+agg, v)
		return Parked{}
	}
	r := decoder{item: m.Value}
	p := Parked{AggregateID: agg, Partition: index, Version: r.num(parkedVersion), CommitID: r.str(parkedCommitID),
		Error: r.str(parkedError), Attempts: int(r.num(parkedAttempts)), At: time.UnixMilli(r.num(parkedAt)),
		Action: r.str(parkedAction)}
	if r.err == nil && p.Version < 0 {
		r.err = fmt.Errorf("version %d", p.Version)
	}
	if r.err != nil && d.err == nil {
		d.err = fmt.Errorf("parked %q: %w", agg, r.err)
	}
	return p
}

// encodeParked is a parked record as stored.
func encodeParked(p Parked) types.AttributeValue {
	msg := p.Error
	if len(msg) > maxErrorInParked {
		msg = msg[:maxErrorInParked]
	}
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		parkedVersion: n(p.Version), parkedCommitID: s(p.CommitID), parkedError: s(msg),
		parkedAttempts: n(int64(p.Attempts)), parkedAt: ms(p.At),
	}}
}

// header is the consumer's header item, decoded.
type header struct {
	partitions int
	members    map[string]time.Time
}

func decodeHeader(item map[string]types.AttributeValue) (header, error) {
	d := decoder{item: item}
	h := header{partitions: int(d.num(attrPartitions)), members: map[string]time.Time{}}
	if v, ok := item[attrMembers]; ok {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			d.fail(attrMembers, v)
		} else {
			for token, until := range m.Value {
				r := decoder{item: map[string]types.AttributeValue{"u": until}}
				h.members[token] = time.UnixMilli(r.num("u"))
				if r.err != nil && d.err == nil {
					d.err = fmt.Errorf("member %q: %w", token, r.err)
				}
			}
		}
	}
	if d.err == nil && (h.partitions < 1 || h.partitions > MaxPartitions) {
		d.err = fmt.Errorf("partitions %d", h.partitions)
	}
	if d.err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrCorruptState, d.err)
	}
	return h, nil
}

// live returns the members whose lease has not ended at now, sorted.
func (h header) live(now time.Time) []string {
	var out []string
	for token, until := range h.members {
		if until.After(now) {
			out = append(out, token)
		}
	}
	sort.Strings(out)
	return out
}

// validCommitID reports whether v is a canonical ULID, as CommitIDs are.
func validCommitID(v string) bool {
	id, err := ulid.ParseStrict(v)
	return err == nil && id.String() == v
}
