package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The rebuilder, killed with SIGKILL mid-way and restarted, counts every
// commit exactly once: the commits before the kill, and those appended
// while it was down.
func TestRebuildResumesAfterKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "rebuild")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	stateTable := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table, ScanShards: 2,
		MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance})

	want := map[string]map[string]int{}
	versions := map[string]int64{}
	appendN := func(n int) {
		for i := range n {
			agg := fmt.Sprintf("account#%d", i%7)
			events := []eventstore.Event{{Type: []string{"deposited", "withdrawn", "renamed"}[i%3]}, {Type: "audited"}}
			_, err := store.Append(ctx, eventstore.Commit{AggregateID: agg, Version: versions[agg], Events: events})
			for errors.Is(err, eventstore.ErrCommitDeadline) { // a loaded machine; retry as a new commit
				_, err = store.Append(ctx, eventstore.Commit{AggregateID: agg, Version: versions[agg], Events: events})
			}
			if err != nil {
				t.Fatal(err)
			}
			versions[agg]++
			if want[agg] == nil {
				want[agg] = map[string]int{}
			}
			for _, e := range events {
				want[agg][e.Type]++
			}
		}
	}
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(bin, "-table", table, "-state", stateTable, "-shards", "2", "-settle", "6s", "-save-every", "25")
		cmd.Env = append(os.Environ(), "DYNAMODB_ENDPOINT="+dynamotest.Endpoint(t))
		stderr := &syncBuffer{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, stderr
	}
	state := &stateStore{client: client, table: stateTable}
	waitFor := func(cond func(p *projection) bool) *projection {
		for {
			p, err := state.load(ctx)
			if err == nil && cond(p) {
				return p
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out; last state %+v, %v", p, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	appendN(300)
	first, firstErr := start()
	waitFor(func(p *projection) bool { return p.Commits >= 100 })
	first.Process.Kill() // SIGKILL: no chance to save
	first.Wait()

	appendN(200)
	second, stderr := start()
	waitFor(func(p *projection) bool { return p.Commits >= 500 })
	time.Sleep(1500 * time.Millisecond) // a double count would show now
	got := waitFor(func(*projection) bool { return true })
	second.Process.Kill()
	second.Wait()

	if got.Commits != 500 {
		t.Errorf("counted %d commits, want 500", got.Commits)
	}
	if diff := cmp.Diff(want, got.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr.String(), "commits/s, checkpoint") || !strings.Contains(firstErr.String(), "resuming after \"\"") {
		t.Errorf("progress output missing:\n%s\n%s", firstErr, stderr)
	}
	if !strings.Contains(stderr.String(), "resuming after \"01") {
		t.Errorf("the restarted rebuilder did not resume from a checkpoint:\n%s", stderr)
	}
}
