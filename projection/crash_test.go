package projection_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/projection"
)

// The crash test re-executes its own binary as consumer processes:
// TestMain calls consumerMain when PROJECTION_TEST_CONSUMER is set.
const (
	envConsumer = "PROJECTION_TEST_CONSUMER"
	envEndpoint = "PROJECTION_TEST_ENDPOINT"
	envTable    = "PROJECTION_TEST_TABLE"
	envModel    = "PROJECTION_TEST_MODEL"
	// envLong set to 1 makes TestCrashTakeover rebuild 20,000 commits
	// (make test-long) instead of 3,000.
	envLong = "EVENTSTORE_TEST_LONG"

	crashLease      = 3 * time.Second
	crashPartitions = 8
)

// consumerMain is a consumer process: a Runner of consumer "crash" with a
// read-model handler, printing "h AGGREGATE VERSION" for each commit its
// handler applied or recognised, until SIGTERM.
func consumerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	client := dynamotest.NewClient(os.Getenv(envEndpoint))
	table := os.Getenv(envTable)
	store, err := eventstore.New(client, storeConfig(table))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	model, err := newReadModel(ctx, client, os.Getenv(envModel))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	handler := projection.HandlerFunc(func(ctx context.Context, c eventstore.Commit) error {
		if err := model.Handle(ctx, c); err != nil {
			return err
		}
		fmt.Printf("h %s %d\n", c.AggregateID, c.Version) // one write: whole lines survive a SIGKILL
		return nil
	})
	r, err := projection.NewRunner(projection.Config{Store: store, DynamoDB: client, Table: table, Name: "crash",
		Handler: handler, Partitions: crashPartitions, LeaseDuration: crashLease, CheckpointEvery: 500 * time.Millisecond,
		OnError: func(err error) { fmt.Fprintln(os.Stderr, err) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := r.Run(ctx); err != context.Canceled {
		fmt.Fprintln(os.Stderr, "Run:", err)
		return 1
	}
	return 0
}

// consumer is one consumer process seen from the test.
type consumer struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	got    map[string][]int64 // per aggregate, the versions handled in order
	total  int
	stderr strings.Builder
	done   chan struct{}
}

func startConsumer(t *testing.T, table, model string) *consumer {
	t.Helper()
	c := &consumer{got: map[string][]int64{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), envConsumer+"=1", envEndpoint+"="+dynamotest.Endpoint(t), envTable+"="+table, envModel+"="+model)
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill() })
	go func() {
		defer close(c.done)
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			f := strings.Fields(lines.Text())
			if len(f) != 3 || f[0] != "h" {
				continue
			}
			v, _ := strconv.ParseInt(f[2], 10, 64)
			c.mu.Lock()
			c.got[f[1]] = append(c.got[f[1]], v)
			c.total++
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *consumer) handled() int { c.mu.Lock(); defer c.mu.Unlock(); return c.total }

// token is the part of an owner token that names this process.
func (c *consumer) owns(owner string) bool {
	return strings.Contains(owner, "/"+strconv.Itoa(c.cmd.Process.Pid)+"/")
}

// Three consumer processes rebuild the log while writers append; one is
// killed with SIGKILL half-way. Every commit is handled at least once,
// each aggregate in version order in every process, no checkpoint moves
// backwards, the dead process's partitions are taken over within the
// lease time + 2 s, and the read model equals a fold of Query.
func TestCrashTakeover(t *testing.T) {
	t.Parallel()
	aggs, rounds, before := aggregates("acc", 300), 10, 8 // 3,000 commits, 2,400 before the consumers start
	if os.Getenv(envLong) == "1" {
		aggs, rounds, before = aggregates("acc", 1000), 20, 16 // 20,000
	}
	total := len(aggs) * rounds
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	model := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, storeConfig(table))
	ctx := ctxT(t, 10*time.Minute)
	for v := range before {
		appendRound(t, ctx, store, aggs, int64(v))
	}
	if _, err := newReadModel(ctx, client, model); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	procs := []*consumer{startConsumer(t, table, model), startConsumer(t, table, model), startConsumer(t, table, model)}
	writing := make(chan struct{})
	go func() { // writers keep appending while the consumers rebuild
		defer close(writing)
		for v := before; v < rounds; v++ {
			appendRound(t, ctx, store, aggs, int64(v))
		}
	}()

	admin := projection.NewAdmin(client, table)
	var (
		victim     *consumer
		killedAt   time.Time
		orphans    []int // the victim's partitions when killed
		takenOver  = map[int]time.Duration{}
		checkpoint = map[int]string{}
	)
	handledAll := func() int {
		n := 0
		for _, p := range procs {
			n += p.handled()
		}
		return n
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		status, err := admin.Status(ctx, "crash")
		if err != nil && time.Since(start) > 10*time.Second {
			t.Fatal(err)
		}
		now := time.Now()
		for _, p := range status {
			if p.Checkpoint < checkpoint[p.Partition] {
				t.Errorf("partition %d: checkpoint moved back from %s to %s", p.Partition, checkpoint[p.Partition], p.Checkpoint)
			}
			checkpoint[p.Partition] = p.Checkpoint
			if victim != nil && slices.Contains(orphans, p.Partition) && p.Held(now) && !victim.owns(p.Owner) {
				if _, ok := takenOver[p.Partition]; !ok {
					takenOver[p.Partition] = now.Sub(killedAt)
				}
			}
		}
		if victim == nil && handledAll() >= total/2 {
			for _, c := range procs {
				for _, p := range status {
					if c.owns(p.Owner) && p.Held(now) {
						victim, orphans = c, append(orphans, p.Partition)
					}
				}
				if victim != nil {
					break
				}
			}
			if victim != nil {
				victim.cmd.Process.Signal(syscall.SIGKILL)
				killedAt = time.Now()
				t.Logf("killed pid %d holding partitions %v after %d of %d commits handled, %v in", victim.cmd.Process.Pid, orphans, handledAll(), total, killedAt.Sub(start))
			}
		}
		select {
		case <-writing:
		default:
			if time.Now().After(deadline) {
				t.Fatalf("the writers did not finish in time")
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if victim != nil && len(takenOver) == len(orphans) && coveredAll(procs, aggs, rounds) {
			break
		}
		if time.Now().After(deadline) {
			for _, c := range procs {
				t.Logf("consumer %d stderr: %.2000s", c.cmd.Process.Pid, c.stderr.String())
			}
			missing := uncovered(procs, aggs, rounds)
			t.Logf("%d commits not handled, such as %.10v; partitions: %+v", len(missing), missing, status)
			t.Fatalf("timed out: %d handlings, taken over %v of %v", handledAll(), takenOver, orphans)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	for _, c := range procs {
		if c != victim {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, c := range procs {
		<-c.done
		err := c.cmd.Wait()
		if c != victim && err != nil {
			t.Errorf("consumer %d: %v: %s", c.cmd.Process.Pid, err, c.stderr.String())
		}
	}
	for p, d := range takenOver {
		if d > crashLease+2*time.Second {
			t.Errorf("partition %d taken over %v after the kill, want at most the lease (%v) + 2 s", p, d, crashLease)
		}
	}
	for _, c := range procs {
		for a, vs := range c.got {
			for k := 1; k < len(vs); k++ {
				if vs[k] <= vs[k-1] {
					t.Fatalf("process %d handed %s versions %v: not in version order", c.cmd.Process.Pid, a, vs)
				}
			}
		}
	}
	checkReadModel(t, ctx, store, &readModel{client: client, table: model}, aggs)
	t.Logf("3 processes, %d partitions, lease %v: %d commits (%d appended during the rebuild), %d handlings (%.2f per commit) in %v; partitions %v of the killed process taken over after %v",
		crashPartitions, crashLease, total, total-before*len(aggs), handledAll(), float64(handledAll())/float64(total), elapsed.Round(time.Millisecond), orphans, takenOver)
}

// uncovered lists the commits no process handled.
func uncovered(procs []*consumer, aggs []string, rounds int) []string {
	var out []string
	for _, a := range aggs {
		for v := range rounds {
			found := false
			for _, c := range procs {
				c.mu.Lock()
				found = found || slices.Contains(c.got[a], int64(v))
				c.mu.Unlock()
			}
			if !found {
				out = append(out, fmt.Sprintf("%s v%d", a, v))
			}
		}
	}
	return out
}

// coveredAll reports whether every version of every aggregate was handled
// by some process.
func coveredAll(procs []*consumer, aggs []string, rounds int) bool {
	for _, a := range aggs {
		seen := make([]bool, rounds)
		for _, c := range procs {
			c.mu.Lock()
			for _, v := range c.got[a] {
				if v >= 0 && int(v) < rounds {
					seen[v] = true
				}
			}
			c.mu.Unlock()
		}
		if slices.Contains(seen, false) {
			return false
		}
	}
	return true
}
