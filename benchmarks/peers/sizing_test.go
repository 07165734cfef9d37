package main

import (
	"testing"
)

func TestWritten(t *testing.T) {
	w := newWorkload(1)
	// warm-up 1500 + 100×10 + 100, W1a 2000, W1b 200×10, W2 500×10, W3 1×1000
	if got, want := w.written(), 2600+2000+2000+5000+1000; got != want {
		t.Errorf("written = %d, want %d", got, want)
	}
	w.W3.Aggregates = 3
	if got, want := w.written(), 2600+2000+2000+5000+3000; got != want {
		t.Errorf("written with 3 W3 aggregates = %d, want %d", got, want)
	}
}

// TestSized sizes the workload from a tenth of it and checks that
// each timed phase, at the calibration's rates, lasts the target, and that
// no count goes below the issue's.
func TestSized(t *testing.T) {
	cal := newWorkload(0.1)
	seconds := map[string]float64{"W1a": 0.2, "W1b": 0.5, "W2": 0.4, "W3write": 0.1, "W3": 0.05, "W4": 0.1}
	w := newWorkload(1).sized(cal, seconds, 6)
	// Rates of the calibration, in its items (commits or events) per second.
	last := func(items, calItems int, phase string) float64 {
		return float64(items) / (float64(calItems) / seconds[phase])
	}
	for phase, lasts := range map[string]float64{
		"W1a":     last(w.W1a.Aggregates, cal.W1a.Aggregates, "W1a"),
		"W1b":     last(w.W1b.Aggregates*w.W1b.Commits, cal.W1b.Aggregates*cal.W1b.Commits, "W1b"),
		"W2":      last(w.W2.Commits*w.W2.Events, cal.W2.Commits*cal.W2.Events, "W2"),
		"W3write": last(w.W3.Aggregates*w.W3.Events, cal.W3.Aggregates*cal.W3.Events, "W3write"),
		"W3":      last(w.W3.Reads*w.W3.Events, cal.W3.Reads*cal.W3.Events, "W3"),
		"W4":      last(w.W4.Reads*w.written(), cal.W4.Reads*cal.written(), "W4"),
	} {
		// Counts are rounded up: at most one unit more than the target.
		if lasts < 6 || lasts > 6*1.25 {
			t.Errorf("%s lasts %.2f s, want 6 s", phase, lasts)
		}
	}
	if w.W3.Events != 1000 || w.W1b.Commits != 10 || w.W2.Events != 10 {
		t.Errorf("sized changed the shape of a workload: %+v %+v %+v", w.W1b, w.W2, w.W3)
	}
	// Fast phases keep the counts.
	fast := newWorkload(1).sized(cal, map[string]float64{"W1a": 100, "W3write": 100}, 1)
	if fast.W1a.Aggregates != 2000 || fast.W3.Aggregates != 1 || fast.W4.Reads != 1 {
		t.Errorf("sized below the issue's counts: W1a %d, W3 aggregates %d, W4 reads %d",
			fast.W1a.Aggregates, fast.W3.Aggregates, fast.W4.Reads)
	}
}

func TestShortPhases(t *testing.T) {
	runs := [][]phase{
		{{Name: "W1a", Seconds: 4}, {Name: "W2", Seconds: 6}, {Name: "W5", Seconds: 0.5}},
		{{Name: "W1a", Seconds: 3}, {Name: "W3write", Seconds: 2}, {Name: "W4", Seconds: 5}},
	}
	short := shortPhases(runs, 5)
	want := map[string]float64{"W1a": 3, "W3write": 2}
	if len(short) != len(want) {
		t.Fatalf("shortPhases = %v, want %v", short, want)
	}
	for name, s := range want {
		if short[name] != s {
			t.Errorf("shortPhases = %v, want %v", short, want)
		}
	}
}

// TestGrown grows short phases so that, at the rate they ran, they last
// minSeconds × growth, leaves the others, and keeps W4 long enough although
// it reads more events per read.
func TestGrown(t *testing.T) {
	w := newWorkload(1)
	w.W3.Reads, w.W4.Reads = 200, 4
	g := w.grown(map[string]float64{"W1a": 2.5, "W3write": 1.3, "W4": 4}, 5, 1.25)
	if g.W1a.Aggregates != 5000 { // 2000 × 5/2.5 × 1.25
		t.Errorf("W1a grown to %d aggregates, want 5000", g.W1a.Aggregates)
	}
	if g.W3.Aggregates != 5 { // 1000 × 5/1.3 × 1.25 = 4808 commits: 5 aggregates of 1000
		t.Errorf("W3write grown to %d aggregates, want 5", g.W3.Aggregates)
	}
	if g.W1b != w.W1b || g.W2 != w.W2 || g.W3.Reads != w.W3.Reads || g.W3.Events != w.W3.Events {
		t.Errorf("grown changed a phase that was long enough: %+v", g)
	}
	// W4 read 4 × written in 4 s; it must now read at least 4 × written × 5/4 × 1.25.
	if got, want := g.W4.Reads*g.written(), 4*w.written()*25/16; got < want {
		t.Errorf("W4 grown to %d reads of %d events, %d in all; want at least %d", g.W4.Reads, g.written(), got, want)
	}
	// W4 not short: its reads stay, and it lasts longer with what the others wrote.
	g = w.grown(map[string]float64{"W1a": 2.5}, 5, 1.25)
	if g.W4.Reads != w.W4.Reads {
		t.Errorf("W4 reads %d, want %d", g.W4.Reads, w.W4.Reads)
	}
	if got := w.grown(nil, 5, 1.25); got.describe(w) != "the same counts" {
		t.Errorf("grown without short phases changed %s", got.describe(w))
	}
}
