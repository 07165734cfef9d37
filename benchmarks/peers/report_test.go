package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportCPURows checks that every append workload has the client,
// DynamoDB Local and summed CPU rows, and every read workload its CPU rows,
// with eventstore's ratios.
func TestReportCPURows(t *testing.T) {
	results := map[string][][]phase{}
	for k, name := range []string{"eventstore", "bakerface", "castore"} {
		var run []phase
		for _, p := range timedPhases {
			// 1,000 commits and events in 10 s, CPU 0.1 s in the client and
			// 0.2 s in DynamoDB Local, twice as much for each next store.
			f := float64(int(1) << k)
			run = append(run, phase{Name: p, Commits: 1000, Events: 1000, Seconds: 10, CPU: 0.1 * f, OK: true,
				Usage: usage{ServerCPU: 0.2 * f}})
		}
		results[name] = [][]phase{run}
	}
	var buf bytes.Buffer
	report{W: newWorkload(1), Runs: 1, MinSeconds: 5, Sized: true, Results: results}.write(&buf)
	out := buf.String()
	rows := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		for metric, want := range map[string]string{
			"client CPU µs/commit":                  "| 100 | 200 | 400 | 0.50× | 0.25× |",
			"DynamoDB Local CPU µs/commit":          "| 200 | 400 | 800 | 0.50× | 0.25× |",
			"client + DynamoDB Local CPU µs/commit": "| 300 | 600 | 1,200 | 0.50× | 0.25× |",
			"client CPU µs/event":                   "| 100.0 | 200.0 | 400.0 | 0.50× | 0.25× |",
			"DynamoDB Local CPU µs/event":           "| 200.0 | 400.0 | 800.0 | 0.50× | 0.25× |",
			"other load on the machine, cores":      "| 0.00 | 0.00 | 0.00 |  |  |",
		} {
			if strings.Contains(line, "| "+metric+" |") {
				rows[metric]++
				if !strings.HasSuffix(line, want) {
					t.Errorf("row %q, want it to end with %q", line, want)
				}
			}
		}
	}
	for metric, want := range map[string]int{
		"client CPU µs/commit": 4, "DynamoDB Local CPU µs/commit": 4, "client + DynamoDB Local CPU µs/commit": 4,
		"client CPU µs/event": 2, "DynamoDB Local CPU µs/event": 2, "other load on the machine, cores": 6,
	} {
		if rows[metric] != want {
			t.Errorf("%d rows of %q, want %d (W1a, W1b, W2, W3 setup; W3, W4)", rows[metric], metric, want)
		}
	}
	if strings.Contains(out, " s, under 5 s") {
		t.Errorf("report says a run was short:\n%s", out)
	}
}

// TestReportShortRun checks that Checks lists a timed workload, W3 setup
// included, that lasted under MinSeconds, and the growths of the sizing.
func TestReportShortRun(t *testing.T) {
	run := []phase{{Name: "W1a", Commits: 1, Events: 1, Seconds: 6, OK: true}, {Name: "W3write", Commits: 1, Events: 1, Seconds: 2, OK: true},
		{Name: "W5", Commits: 1, Events: 1, Seconds: 0.1, OK: true, RoundsOK: 1}}
	var buf bytes.Buffer
	report{W: newWorkload(1), Runs: 1, MinSeconds: 5, Sized: true, Sizing: []string{"attempt 1: grown"},
		Results: map[string][][]phase{"eventstore": {run}}}.write(&buf)
	out := buf.String()
	for _, want := range []string{"run 1 W3write lasted 2.0 s, under 5 s", "- sizing, attempt 1: grown."} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, " s, under 5 s"); n != 1 {
		t.Errorf("%d runs under 5 s in the report, want 1 (W3 setup; not W1a, not W5)", n)
	}
}
