package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
)

// TestProgressLine: a second after the start, with the log's first hour of
// four covered, the line shows the count, the rate, the position and an
// ETA of three more seconds.
func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	var out bytes.Buffer
	p := newProgress(&out, "exported", start)
	p.now = func() time.Time { return now }
	first := start.Add(-4 * time.Hour)
	p.add(eventstore.Commit{CommitID: "A", CommittedAt: first})
	if out.Len() != 0 {
		t.Errorf("printed %q before a second passed", out.String())
	}
	now = start.Add(time.Second)
	p.add(eventstore.Commit{CommitID: "B", CommittedAt: first.Add(time.Hour)})
	want := "exported 2 commits, 2 commits/s, at B (2026-01-01T09:00:00Z), ETA 3s\n"
	if out.String() != want {
		t.Errorf("progress line %q, want %q", out.String(), want)
	}
	p.done()
	if !strings.HasSuffix(out.String(), "exported 2 commits in 1s, last B\n") {
		t.Errorf("final line: %q", out.String())
	}
}

// TestImportProgressETA: an import of a file aims at the file's end: a
// second in, with a quarter of the file read, three seconds are left,
// whatever the commits' times.
func TestImportProgressETA(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	var out bytes.Buffer
	p := newProgress(&out, "imported", start)
	p.now = func() time.Time { return now }
	read := int64(0)
	p.size, p.offset = 1000, func() int64 { return read }
	old := start.Add(-24 * time.Hour)
	p.add(eventstore.Commit{CommitID: "A", CommittedAt: old})
	now, read = start.Add(time.Second), 250
	p.add(eventstore.Commit{CommitID: "B", CommittedAt: old.Add(time.Minute)})
	if want := ", ETA 3s\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("progress line %q, want it to end %q", out.String(), want)
	}
}
