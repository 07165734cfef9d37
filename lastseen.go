package eventstore

import (
	"container/list"
	"sync"
)

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
