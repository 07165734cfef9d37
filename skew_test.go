package eventstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// The skewed-writers test re-executes its own binary as writer processes:
// TestMain calls writerMain when EVENTSTORE_TEST_WRITER is set.
const (
	envWriter   = "EVENTSTORE_TEST_WRITER"
	envEndpoint = "EVENTSTORE_TEST_ENDPOINT"
	envTable    = "EVENTSTORE_TEST_TABLE"
	envSkew     = "EVENTSTORE_TEST_SKEW"
	envCommits  = "EVENTSTORE_TEST_COMMITS"
	skewLatency = time.Second // the writers' MaxCommitLatency
)

var skewAggregates = []string{"skew#1", "skew#2", "skew#3"}

// writerMain is a writer process: a Store whose clock is off by
// EVENTSTORE_TEST_SKEW that alternates LatestVersion -> Append of the next
// version over the aggregates until it stored EVENTSTORE_TEST_COMMITS
// commits, printing "stored <aggregate> <version> <commitID>" for each.
func writerMain() int {
	skew, err1 := time.ParseDuration(os.Getenv(envSkew))
	n, err2 := strconv.Atoi(os.Getenv(envCommits))
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s, err := eventstore.New(dynamotest.NewClient(os.Getenv(envEndpoint)), eventstore.WithClock(eventstore.Config{
		Table: os.Getenv(envTable), MaxCommitLatency: skewLatency,
	}, func() time.Time { return time.Now().Add(skew) }))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, stored := 0, 0; stored < n; i++ {
		a := skewAggregates[i%len(skewAggregates)]
		v, err := s.LatestVersion(ctx, a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c, err := s.Append(ctx, eventstore.Commit{AggregateID: a, Version: v + 1,
			Events: []eventstore.Event{{Type: "tick", Data: []byte(strconv.Itoa(i))}}})
		switch {
		case errors.Is(err, eventstore.ErrVersionConflict):
			continue // another writer took it: read again
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		stored++
		fmt.Printf("stored %s %d %s\n", c.AggregateID, c.Version, c.CommitID)
	}
	return 0
}

// Three writer processes whose clocks are 1 s behind, on time and 1 s
// ahead race on three aggregates while a Tail reads; then a Scan reads
// everything. Both yield every aggregate's commits in version order, each
// exactly once.
func TestSkewedWriterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	t.Parallel()
	const perWriter = 30
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	// The first store records the writers' deadline in the table.
	settle := skewLatency + eventstore.SettleAllowance
	s, err := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: skewLatency, Settle: settle})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	tailCtx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	var tailed []eventstore.Commit
	var tailErr error
	total := 3 * perWriter
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		for c, err := range s.Tail(tailCtx, "") {
			if err != nil {
				if tailCtx.Err() == nil {
					tailErr = err
				}
				return
			}
			if tailed = append(tailed, c); len(tailed) == total {
				return
			}
		}
	}()

	stored := runWriters(t, table, perWriter, -time.Second, 0, time.Second)
	if len(stored) != total {
		t.Fatalf("the writers stored %d commits, want %d", len(stored), total)
	}
	select {
	case <-tailDone:
	case <-time.After(settle + 30*time.Second):
		stopTail()
		<-tailDone
		t.Fatalf("Tail yielded %d of %d commits", len(tailed), total)
	}
	if tailErr != nil {
		t.Fatalf("Tail: %v", tailErr)
	}
	scanned := collect(t, s.Scan(ctx, ""))
	for name, got := range map[string][]eventstore.Commit{"Scan": scanned, "Tail": tailed} {
		checkVersionOrder(t, name, got, stored)
	}
	t.Logf("skewed writers (clocks -1 s, 0, +1 s, 3 processes, 3 aggregates): %d commits, Scan %d and Tail %d, versions in order: yes",
		len(stored), len(scanned), len(tailed))
}

// runWriters starts one writer process per clock offset and returns what
// they stored, CommitID -> "aggregate version".
func runWriters(t *testing.T, table string, perWriter int, skews ...time.Duration) map[string]string {
	t.Helper()
	stored := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, skew := range skews {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envWriter+"=1", envEndpoint+"="+dynamotest.Endpoint(t), envTable+"="+table,
			envSkew+"="+skew.String(), envCommits+"="+strconv.Itoa(perWriter))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			lines := bufio.NewScanner(out)
			for lines.Scan() {
				f := strings.Fields(lines.Text())
				if len(f) == 4 && f[0] == "stored" {
					mu.Lock()
					stored[f[3]] = f[1] + " " + f[2]
					mu.Unlock()
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("writer with clock %v: %v: %s", skew, err, stderr.String())
			}
		})
	}
	wg.Wait()
	return stored
}

// checkVersionOrder checks that got holds each stored commit once and
// every aggregate's commits in version order from 0.
func checkVersionOrder(t *testing.T, name string, got []eventstore.Commit, stored map[string]string) {
	t.Helper()
	if len(got) != len(stored) {
		t.Errorf("%s yielded %d commits, want %d", name, len(got), len(stored))
	}
	next := map[string]int64{}
	seen := map[string]bool{}
	for _, c := range got {
		if want := fmt.Sprintf("%s %d", c.AggregateID, c.Version); stored[c.CommitID] != want {
			t.Errorf("%s yielded %s as %s, the writers stored %q", name, c.CommitID, want, stored[c.CommitID])
		}
		if seen[c.CommitID] {
			t.Errorf("%s yielded %s twice", name, c.CommitID)
		}
		seen[c.CommitID] = true
		if c.Version != next[c.AggregateID] {
			t.Errorf("%s yielded %s version %d, want version %d next", name, c.AggregateID, c.Version, next[c.AggregateID])
		}
		next[c.AggregateID] = c.Version + 1
	}
}
