package eventstore

import (
	"fmt"
	"testing"
)

// lastSeen keeps the highest version per aggregate, answers only for
// exactly that version, drops the least recently used past its capacity,
// and remembers nothing at capacity 0.
func TestLastSeen(t *testing.T) {
	l := newLastSeen(2)
	l.add("a", 3, "A3")
	l.add("a", 1, "A1") // older: ignored
	if id, ok := l.commitAt("a", 3); !ok || id != "A3" {
		t.Errorf("commitAt(a, 3) = %q, %v; want A3", id, ok)
	}
	if _, ok := l.commitAt("a", 2); ok {
		t.Error("commitAt(a, 2) answered for a version that is not the highest seen")
	}
	l.add("b", 0, "B0")
	l.commitAt("a", 3) // a is now the most recently used
	l.add("c", 0, "C0")
	if _, ok := l.commitAt("b", 0); ok {
		t.Error("b, the least recently used, was kept past the capacity")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := l.entries[k]; !ok {
			t.Errorf("%s was dropped", k)
		}
	}
	off := newLastSeen(0)
	off.add("a", 0, "A0")
	if _, ok := off.commitAt("a", 0); ok {
		t.Error("a cache of capacity 0 remembered a commit")
	}
	big := newLastSeen(defaultLastSeen)
	for i := range defaultLastSeen + 10 {
		big.add(fmt.Sprint(i), 0, "x")
	}
	if n := len(big.entries); n != defaultLastSeen || big.order.Len() != n {
		t.Errorf("%d entries (%d in order), want %d", n, big.order.Len(), defaultLastSeen)
	}
}
