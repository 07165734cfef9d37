// Command peers runs the same workloads on eventstore and on two DynamoDB
// event stores from the npm registry, bakerface's dynamodb-event-store and
// castore's DynamoDB adapter, on one DynamoDB Local, and prints one table:
// throughput, requests and capacity units per event, and eventstore's ratio
// to each peer. make bench-peers installs the peers and runs it:
//
//	cd benchmarks/peers && go run . [-runs 3] [-scale 1] [-minseconds 5] [-out RESULTS.md]
//
// It is a Go module of its own, so that the library's module carries no
// Node tooling. In the measured runs every store talks to DynamoDB Local
// directly; it only tells this program (the control URL) which phase it
// is in, so that the CPU time DynamoDB Local and the rest of the machine
// spend is read per phase. Requests and consumed capacity are counted in
// one more run of each store, unmeasured, through a proxy of this program
// that reads them from the responses (see proxy.go and capacity.go). The
// workloads are in runner.js for the Node stores and in ours.go for
// eventstore; each store's process warms up, untimed, before them. Each
// store runs -runs times, in rotating order, on a fresh table; the table
// shows medians. Each timed workload is sized to last -minseconds in every
// run of every store (see run).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore/benchmarks"
	"github.com/dynacommit/eventstore/dynamotest"

	"github.com/dynacommit/eventstore/internal/cpu"
)

// workload sizes the phases; runner.js reads it as JSON.
type workload struct {
	Concurrency int               `json:"concurrency"`
	Types       []string          `json:"types"`
	Payloads    []json.RawMessage `json:"payloads"`
	// Warm is the untimed warm-up at the start of every store's process,
	// on aggregates of its own (warm-...), so that no timed phase pays for
	// the process's start (JIT, SDK, connections): Singles 1-event commits
	// and Groups commits of Events events on as many aggregates,
	// Concurrency at a time, Versions sequential 1-event commits on one
	// aggregate, and Reads reads of it. Its events stay in the table.
	Warm struct {
		Singles  int `json:"singles"`
		Groups   int `json:"groups"`
		Events   int `json:"events"`
		Versions int `json:"versions"`
		Reads    int `json:"reads"`
	} `json:"warm"`
	W1a struct {
		Aggregates int `json:"aggregates"`
	} `json:"w1a"`
	W1b struct {
		Aggregates int `json:"aggregates"`
		Commits    int `json:"commits"`
	} `json:"w1b"`
	W2 struct {
		Commits int `json:"commits"`
		Events  int `json:"events"`
	} `json:"w2"`
	// W3write appends Events 1-event commits, one at a time, to each of
	// Aggregates aggregates in turn (more than one only so that it lasts
	// long enough: one aggregate stays the size of the issue's); W3 reads
	// the first of them Reads times.
	W3 struct {
		Aggregates int `json:"aggregates"`
		Events     int `json:"events"`
		Reads      int `json:"reads"`
	} `json:"w3"`
	// W4 reads the whole log Reads times.
	W4 struct {
		Reads int `json:"reads"`
	} `json:"w4"`
	W5 struct {
		Writers int `json:"writers"`
		Rounds  int `json:"rounds"`
	} `json:"w5"`
}

// newWorkload returns the workload of the issue, its counts multiplied by
// scale (at least 1 each). The warm-up does not scale: it lasts about a
// second and a half for eventstore, whatever the workload.
func newWorkload(scale float64) workload {
	n := func(v int) int { return max(1, int(float64(v)*scale+0.5)) }
	w := workload{Concurrency: 16, Types: benchmarks.EventTypes, Payloads: benchmarks.Payloads(1000)}
	w.Warm.Singles, w.Warm.Groups, w.Warm.Events, w.Warm.Versions, w.Warm.Reads = 1500, 100, 10, 100, 50
	w.W1a.Aggregates = n(2000)
	w.W1b.Aggregates, w.W1b.Commits = n(200), 10
	w.W2.Commits, w.W2.Events = n(500), 10
	w.W3.Aggregates, w.W3.Events, w.W3.Reads = 1, n(1000), 20
	w.W4.Reads = 1
	w.W5.Writers, w.W5.Rounds = 16, n(50)
	return w
}

// timedPhases are the phases sized to last -minseconds; W5's size is its
// number of rounds.
var timedPhases = []string{"W1a", "W1b", "W2", "W3write", "W3", "W4"}

// sized returns w with the count of each phase in seconds set so that the
// phase lasts target seconds, from the seconds it lasted on workload cal,
// and never below w's. The other counts (events per commit, events of an
// W3 aggregate) are w's. W4 reads what the others wrote, so it is sized
// last, from the others' new counts.
func (w workload) sized(cal workload, seconds map[string]float64, target float64) workload {
	// count returns how many units of unit items (commits or events) last
	// target seconds, if the phase did calItems in seconds[phase].
	count := func(v int, phase string, calItems, unit int) int {
		t := seconds[phase]
		if t <= 0 || unit <= 0 {
			return v
		}
		return max(v, int(math.Ceil(float64(calItems)*target/t/float64(unit)-1e-9)))
	}
	w.W1a.Aggregates = count(w.W1a.Aggregates, "W1a", cal.W1a.Aggregates, 1)
	w.W1b.Aggregates = count(w.W1b.Aggregates, "W1b", cal.W1b.Aggregates*cal.W1b.Commits, w.W1b.Commits)
	w.W2.Commits = count(w.W2.Commits, "W2", cal.W2.Commits*cal.W2.Events, w.W2.Events)
	w.W3.Aggregates = count(w.W3.Aggregates, "W3write", cal.W3.Aggregates*cal.W3.Events, w.W3.Events)
	w.W3.Reads = count(w.W3.Reads, "W3", cal.W3.Reads*cal.W3.Events, w.W3.Events)
	w.W4.Reads = count(max(1, w.W4.Reads), "W4", max(1, cal.W4.Reads)*cal.written(), w.written())
	return w
}

// grown returns w with each workload of short, a timed phase that lasted
// under minSeconds (its shortest time), grown by minSeconds/shortest ×
// growth.
func (w workload) grown(short map[string]float64, minSeconds, growth float64) workload {
	return w.sized(w, short, minSeconds*growth)
}

// shortPhases returns the shortest time of each timed phase of runs that
// lasted under minSeconds.
func shortPhases(runs [][]phase, minSeconds float64) map[string]float64 {
	short := map[string]float64{}
	for _, run := range runs {
		for _, p := range run {
			if !slices.Contains(timedPhases, p.Name) || p.Seconds >= minSeconds {
				continue
			}
			if t, ok := short[p.Name]; !ok || p.Seconds < t {
				short[p.Name] = p.Seconds
			}
		}
	}
	return short
}

// written is the number of events the warm-up and W1 to W3 write, which
// W4 reads.
func (w workload) written() int {
	return w.Warm.Singles + w.Warm.Groups*w.Warm.Events + w.Warm.Versions +
		w.W1a.Aggregates + w.W1b.Aggregates*w.W1b.Commits + w.W2.Commits*w.W2.Events + w.W3.Aggregates*w.W3.Events
}

// phase is one timed step of a run, as runner.js reports it.
type phase struct {
	Name    string  `json:"name"`
	Commits int     `json:"commits"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpu"` // CPU seconds of the store's process
	OK      bool    `json:"ok"`
	Note    string  `json:"note"`
	// RoundsOK counts the W5 rounds with exactly one winner.
	RoundsOK int   `json:"roundsOk"`
	Usage    usage `json:"-"`
}

// store is one event store under test.
type store struct {
	Name, Label string
	Script      string // runner script in the peers folder; "" for eventstore, run by this program
	Bin         string // with Script "": the program to run with -runner instead of this one
}

var stores = []store{
	{Name: "eventstore", Label: "eventstore (Go)"},
	{Name: "bakerface", Label: "bakerface 2.2.0", Script: "bakerface.js"},
	{Name: "castore", Label: "castore 2.4.2", Script: "castore.js"},
}

func main() {
	runs := flag.Int("runs", 3, "runs of each store; the table shows medians")
	scale := flag.Float64("scale", 1, "multiplies the workload's counts")
	warmup := flag.Bool("warmup", true, "size the workloads: run each store twice first, unreported (which also warms up\n"+
		"DynamoDB Local), so that each timed workload lasts -minseconds for every store, and grow a workload and\n"+
		"measure again if a measured run still lasted less")
	minSeconds := flag.Float64("minseconds", 5, "with -warmup: the least time each timed workload should last")
	out := flag.String("out", "", "also write the report to this Markdown file")
	dir := flag.String("dir", ".", "folder of the runner scripts and their node_modules")
	node := flag.String("node", "node", "Node.js command")
	only := flag.String("stores", "", "comma-separated names of the stores to run (default: all)")
	candidate := flag.String("candidate", "", "also run eventstore's workloads with this build of the program\n"+
		"(go build -o FILE ./benchmarks/peers on a changed library), as store \"candidate\"")
	candidateLabel := flag.String("candidate-label", "eventstore (candidate)", "the candidate's column heading, e.g. \"eventstore before\"")
	// The driver runs eventstore's workloads in a process of its own, as a
	// Node store's: this program with -runner and the arguments runner.js
	// takes.
	runner := flag.Bool("runner", false, "run eventstore's workloads (internal)")
	endpoint := flag.String("endpoint", "", "with -runner: DynamoDB's URL")
	control := flag.String("control", "", "with -runner: the driver's URL, for the phases")
	workloadFile := flag.String("workload", "", "with -runner: the workload file")
	table := flag.String("table", "", "with -runner: the table to create and use")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench-peers: ")
	var err error
	if *runner {
		err = runOursMain(*endpoint, *control, *workloadFile, *table)
	} else if err = selectStores(*only); err == nil {
		if *candidate != "" {
			stores = append(stores, store{Name: "candidate", Label: *candidateLabel, Bin: *candidate})
		}
		err = run(*runs, *scale, *warmup, *minSeconds, *out, *dir, *node)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// selectStores keeps the stores named in the comma-separated list names.
func selectStores(names string) error {
	if names == "" {
		return nil
	}
	var kept []store
	for _, name := range strings.Split(names, ",") {
		i := slices.IndexFunc(stores, func(s store) bool { return s.Name == name })
		if i < 0 {
			return fmt.Errorf("no store %q", name)
		}
		kept = append(kept, stores[i])
	}
	stores = kept
	return nil
}

// runOursMain is the -runner mode: it prints the phases as runner.js does.
func runOursMain(endpoint, control, workloadFile, table string) error {
	b, err := os.ReadFile(workloadFile)
	if err != nil {
		return err
	}
	var w workload
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if control == "" {
		control = endpoint
	}
	phases, err := runOurs(context.Background(), endpoint, control, table, w)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(struct {
		Phases []phase `json:"phases"`
	}{phases})
}

func run(runs int, scale float64, warmup bool, minSeconds float64, out, dir, node string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "dynamodb-event-store")); err != nil {
		return fmt.Errorf("peers not installed: run npm ci in %s (make bench-peers does)", dir)
	}
	endpoint, err := dynamotest.Start()
	defer dynamotest.Stop()
	if err != nil {
		return err
	}
	client := dynamotest.NewClient(endpoint)
	p := newProxy(endpoint, &tables{client: client})
	p.serverCPU = cpu.Child("java")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(l, p)
	proxyURL := "http://" + l.Addr().String()
	ctx := context.Background()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	r := runner{ctx: ctx, proxy: p, control: proxyURL, endpoint: endpoint, client: client, dir: dir, node: node, self: self}
	w := newWorkload(scale)
	if warmup {
		// Two passes: the first warms DynamoDB Local's JIT and sizes the
		// second to last -minseconds, which sizes the measured runs from
		// warmer timings of phases as long, with a margin: DynamoDB Local
		// keeps getting faster for minutes, and a short phase is a poor
		// guide to a long one.
		cal := newWorkload(scale / 10)
		for pass := range 2 {
			fastest := map[string]float64{}
			for _, s := range stores {
				phases, err := r.run(s, cal, fmt.Sprintf("sizing%d-%s", pass+1, s.Name))
				if err != nil {
					return err
				}
				log.Printf("sizing pass %d: %s: %s", pass+1, s.Name, timings(phases))
				for _, ph := range phases {
					if t, ok := fastest[ph.Name]; !ok || ph.Seconds < t {
						fastest[ph.Name] = ph.Seconds
					}
				}
			}
			cal = newWorkload(scale).sized(cal, fastest, minSeconds*[]float64{1, sizeMargin}[pass])
		}
		w = cal
	}
	var results map[string][][]phase
	var sizing []string
	started := time.Now()
	for attempt := 0; ; attempt++ {
		var short map[string]float64
		results, short, err = r.measure(w, runs, warmup && attempt < maxGrowths, minSeconds)
		if err != nil {
			return err
		}
		if len(short) == 0 {
			break
		}
		// A measured run was too short: grow those workloads and measure
		// again, all stores, so that every store runs the same workload.
		grown := w.grown(short, minSeconds, growth)
		var parts []string
		for _, name := range timedPhases {
			if t, ok := short[name]; ok {
				parts = append(parts, fmt.Sprintf("%s %.2f s", name, t))
			}
		}
		line := fmt.Sprintf("attempt %d: a run lasted under %g s (shortest runs: %s); grown to %s, and the measured runs started again",
			attempt+1, minSeconds, strings.Join(parts, ", "), grown.describe(w))
		log.Print(line)
		sizing = append(sizing, line)
		w = grown
	}
	// The counting run: once more each store, through the proxy, for the
	// requests and capacity that the measured runs, going straight to
	// DynamoDB Local, do not see.
	counted := map[string][]phase{}
	for _, s := range stores {
		log.Printf("counting run: %s", s.Name)
		phases, err := r.withProxy(proxyURL).run(s, w, "count-"+s.Name)
		if err != nil {
			return err
		}
		counted[s.Name] = phases
	}
	for name, runs := range results {
		for _, phases := range runs {
			for i := range phases {
				if j := slices.IndexFunc(counted[name], func(c phase) bool { return c.Name == phases[i].Name }); j >= 0 {
					phases[i].Usage.counted(counted[name][j].Usage)
				}
			}
		}
	}
	rep := report{W: w, Runs: runs, MinSeconds: minSeconds, Sized: warmup, Sizing: sizing, Results: results, Elapsed: time.Since(started), Env: environment(dir, node)}
	var buf bytes.Buffer
	rep.write(&buf)
	os.Stdout.Write(buf.Bytes())
	if out != "" {
		return os.WriteFile(out, buf.Bytes(), 0o644)
	}
	return nil
}

// Sizing: the measured runs are sized to last sizeMargin × -minseconds
// from the second sizing pass; if one still lasts under -minseconds, its
// workload, and any other that lasted under nearMiss × -minseconds, grows
// by minseconds/seconds × growth and the measured runs start again, at
// most maxGrowths times.
const (
	sizeMargin = 1.5
	nearMiss   = 1.2
	growth     = 1.5
	maxGrowths = 2
)

// measure runs every store runs times, in rotating order, on workload w,
// and returns each store's phases of each run. With stopShort, it stops
// after the first run that has a timed phase under minSeconds and returns
// the phases of the runs so far under nearMiss × minSeconds (see
// shortPhases): those that came close grow too, rather than cause another
// start.
func (r runner) measure(w workload, runs int, stopShort bool, minSeconds float64) (map[string][][]phase, map[string]float64, error) {
	results := map[string][][]phase{}
	var all [][]phase
	for i := range runs {
		for j := range stores {
			s := stores[(i+j)%len(stores)]
			start := time.Now()
			phases, err := r.run(s, w, fmt.Sprintf("bench-%s-%d", s.Name, i))
			if err != nil {
				return nil, nil, err
			}
			log.Printf("run %d/%d: %s in %.1fs: %s", i+1, runs, s.Name, time.Since(start).Seconds(), timings(phases))
			results[s.Name] = append(results[s.Name], phases)
			all = append(all, phases)
			if stopShort && len(shortPhases([][]phase{phases}, minSeconds)) > 0 {
				return results, shortPhases(all, minSeconds*nearMiss), nil
			}
		}
	}
	return results, nil, nil
}

// timings lists how long the timed phases lasted, for the log.
func timings(phases []phase) string {
	var parts []string
	for _, p := range phases {
		if slices.Contains(timedPhases, p.Name) {
			parts = append(parts, fmt.Sprintf("%s %.2f s", p.Name, p.Seconds))
		}
	}
	return strings.Join(parts, ", ")
}

// describe lists the counts of the timed workloads of w that differ from
// old's.
func (w workload) describe(old workload) string {
	var parts []string
	add := func(changed bool, format string, args ...any) {
		if changed {
			parts = append(parts, fmt.Sprintf(format, args...))
		}
	}
	add(w.W1a != old.W1a, "W1a %s aggregates", num(w.W1a.Aggregates))
	add(w.W1b != old.W1b, "W1b %s aggregates", num(w.W1b.Aggregates))
	add(w.W2 != old.W2, "W2 %s commits", num(w.W2.Commits))
	add(w.W3.Aggregates != old.W3.Aggregates, "W3write %s aggregates", num(w.W3.Aggregates))
	add(w.W3.Reads != old.W3.Reads, "W3 %s reads", num(w.W3.Reads))
	add(w.W4 != old.W4, "W4 %s reads", num(w.W4.Reads))
	if len(parts) == 0 {
		return "the same counts"
	}
	return strings.Join(parts, ", ")
}

// runner runs one store's workloads on a fresh table of the DynamoDB at
// endpoint (DynamoDB Local, or the proxy in front of it).
type runner struct {
	ctx      context.Context
	proxy    *proxy
	control  string // the proxy's URL, where runners tell the phase
	endpoint string
	client   *dynamodb.Client
	dir      string
	node     string
	self     string // this program, for eventstore's runner
}

// withProxy is r with the data going through the proxy at url.
func (r runner) withProxy(url string) runner {
	r.endpoint = url
	return r
}

func (r runner) run(s store, w workload, table string) ([]phase, error) {
	defer r.client.DeleteTable(r.ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	phases, err := r.runProcess(s, w, table)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	for i := range phases {
		phases[i].Usage = r.proxy.take(phases[i].Name)
	}
	r.proxy.take("")
	return phases, nil
}

// runProcess runs a store's runner in a process of its own and returns
// the phases it reports.
func (r runner) runProcess(s store, w workload, table string) ([]phase, error) {
	f, err := os.CreateTemp("", "bench-peers-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(w); err != nil {
		return nil, err
	}
	f.Close()
	args := []string{"--endpoint", r.endpoint, "--control", r.control, "--workload", f.Name(), "--table", table}
	cmd := exec.CommandContext(r.ctx, r.node, append([]string{"--no-warnings", s.Script}, args...)...)
	cmd.Dir = r.dir
	if s.Script == "" {
		bin := r.self
		if s.Bin != "" {
			bin = s.Bin
		}
		cmd = exec.CommandContext(r.ctx, bin, append([]string{"-runner"}, args...)...)
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	lines := bytes.Split(bytes.TrimSpace(stdout), []byte("\n"))
	var res struct{ Phases []phase }
	if err := json.Unmarshal(lines[len(lines)-1], &res); err != nil {
		return nil, fmt.Errorf("%s: result: %w", cmd, err)
	}
	if len(res.Phases) == 0 {
		return nil, fmt.Errorf("%s: no phases in result", cmd)
	}
	return res.Phases, nil
}
