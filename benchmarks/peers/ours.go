package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/benchmarks"
	"github.com/dynacommit/eventstore/dynamotest"

	"github.com/dynacommit/eventstore/internal/cpu"
)

// runOurs runs the workloads of runner.js on eventstore, with its default
// Config, on the DynamoDB at endpoint, and tells the driver at control the
// phase it is in; it mirrors runner.js step by step.
// The driver runs it in a process of its own, as it runs the Node stores.
func runOurs(ctx context.Context, endpoint, control, table string, w workload) ([]phase, error) {
	setPhase := func(name string) error {
		resp, err := http.Post(control+"/_bench/phase", "text/plain", strings.NewReader(name))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("phase %s: %s", name, resp.Status)
		}
		return nil
	}
	store, err := eventstore.New(dynamotest.NewClient(endpoint), eventstore.Config{Table: table})
	if err != nil {
		return nil, err
	}
	if err := store.CreateTable(ctx); err != nil {
		return nil, err
	}
	events := func(start, n int) []eventstore.Event {
		return benchmarks.Events(w.Payloads, start, n)
	}
	appendOne := func(id string, version int64, evs []eventstore.Event) error {
		_, err := store.Append(ctx, eventstore.Commit{AggregateID: id, Version: version, Events: evs})
		return err
	}

	// The untimed warm-up, on aggregates of its own, so that no timed
	// phase pays for this process's start.
	warm := w.Warm
	if err := forEach(warm.Singles, w.Concurrency, func(i int) error {
		return appendOne(fmt.Sprintf("warm-1-%d", i), 0, events(i, 1))
	}); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := forEach(warm.Groups, w.Concurrency, func(i int) error {
		return appendOne(fmt.Sprintf("warm-%d-%d", warm.Events, i), 0, events(i*warm.Events, warm.Events))
	}); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	for v := range warm.Versions {
		if err := appendOne("warm-seq", int64(v), events(v, 1)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for range warm.Reads {
		got := 0
		for c, err := range store.Query(ctx, "warm-seq", 0) {
			if err != nil {
				return nil, fmt.Errorf("warm-up: %w", err)
			}
			got += len(c.Events)
		}
		if got != warm.Versions {
			return nil, fmt.Errorf("warm-up: read %d of %d events", got, warm.Versions)
		}
	}

	var phases []phase
	roundsOK := 0
	// timed runs one phase; fn reports whether its result is right, a
	// note, and an error that ends the run.
	timed := func(name string, commits, evs int, fn func() (bool, string, error)) error {
		if err := setPhase(name); err != nil {
			return err
		}
		start, used := time.Now(), cpu.Self()
		ok, note, err := fn()
		seconds, used := time.Since(start).Seconds(), cpu.Self()-used
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := setPhase(""); err != nil {
			return err
		}
		phases = append(phases, phase{Name: name, Commits: commits, Events: evs, Seconds: seconds, CPU: used,
			OK: ok, Note: note, RoundsOK: roundsOK})
		return nil
	}
	quiet := func(err error) (bool, string, error) { return true, "", err }
	count := func(got, want int) (bool, string, error) {
		if got != want {
			return false, fmt.Sprintf("read %d of %d events", got, want), nil
		}
		return true, "", nil
	}

	steps := []func() error{
		func() error {
			return timed("W1a", w.W1a.Aggregates, w.W1a.Aggregates, func() (bool, string, error) {
				return quiet(forEach(w.W1a.Aggregates, w.Concurrency, func(i int) error {
					return appendOne(fmt.Sprintf("w1a-%d", i), 0, events(i, 1))
				}))
			})
		},
		func() error {
			n := w.W1b.Aggregates * w.W1b.Commits
			return timed("W1b", n, n, func() (bool, string, error) {
				return quiet(forEach(w.W1b.Aggregates, w.Concurrency, func(i int) error {
					for v := range w.W1b.Commits {
						if err := appendOne(fmt.Sprintf("w1b-%d", i), int64(v), events(i*w.W1b.Commits+v, 1)); err != nil {
							return err
						}
					}
					return nil
				}))
			})
		},
		func() error {
			return timed("W2", w.W2.Commits, w.W2.Commits*w.W2.Events, func() (bool, string, error) {
				return quiet(forEach(w.W2.Commits, w.Concurrency, func(i int) error {
					return appendOne(fmt.Sprintf("w2-%d", i), 0, events(i*w.W2.Events, w.W2.Events))
				}))
			})
		},
		func() error {
			n := w.W3.Aggregates * w.W3.Events
			return timed("W3write", n, n, func() (bool, string, error) {
				for a := range w.W3.Aggregates {
					for v := range w.W3.Events {
						if err := appendOne(fmt.Sprintf("w3-%d", a), int64(v), events(v, 1)); err != nil {
							return quiet(err)
						}
					}
				}
				return quiet(nil)
			})
		},
		func() error {
			n := w.W3.Reads * w.W3.Events
			return timed("W3", n, n, func() (bool, string, error) {
				for range w.W3.Reads {
					got := 0
					for c, err := range store.Query(ctx, "w3-0", 0) {
						if err != nil {
							return quiet(err)
						}
						got += len(c.Events)
					}
					if got != w.W3.Events {
						return count(got, w.W3.Events)
					}
				}
				return quiet(nil)
			})
		},
		func() error {
			written := w.written()
			reads := max(1, w.W4.Reads)
			return timed("W4", 0, written*reads, func() (bool, string, error) {
				for range reads {
					got := 0
					for c, err := range store.Scan(ctx, "", eventstore.WithSettle(0)) {
						if err != nil {
							return quiet(err)
						}
						got += len(c.Events)
					}
					if ok, note, err := count(got, written); !ok {
						return ok, note, err
					}
				}
				return quiet(nil)
			})
		},
		func() error {
			return timed("W5", w.W5.Rounds, w.W5.Rounds, func() (bool, string, error) {
				var failures int
				var note string
				roundsOK, failures, note = race(ctx, store, w, events)
				return roundsOK == w.W5.Rounds && failures == 0, note, nil
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return phases, err
		}
	}
	return phases, nil
}

// race runs W5: in each round, W5.Writers appends race for the next
// version of one aggregate. It returns the number of rounds with exactly
// one winner, the number of appends that failed with another error than a
// version conflict, and a note of the counts.
func race(ctx context.Context, store *eventstore.Store, w workload, events func(start, n int) []eventstore.Event) (int, int, string) {
	roundsOK, wins, conflicts, failures := 0, 0, 0, 0
	var mu sync.Mutex
	var lastErr error
	for r := range w.W5.Rounds {
		var won, lost, failed atomic.Int64
		var wg sync.WaitGroup
		for k := range w.W5.Writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := store.Append(ctx, eventstore.Commit{AggregateID: "w5", Version: int64(r), Events: events(r*w.W5.Writers+k, 1)})
				var conflict *eventstore.VersionConflictError
				switch {
				case err == nil:
					won.Add(1)
				case errors.As(err, &conflict):
					lost.Add(1)
				default:
					failed.Add(1)
					mu.Lock()
					lastErr = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		wins += int(won.Load())
		conflicts += int(lost.Load())
		failures += int(failed.Load())
		if won.Load() == 1 {
			roundsOK++
		}
	}
	note := fmt.Sprintf("%d/%d rounds with one winner; %d wins, %d conflicts, %d other errors",
		roundsOK, w.W5.Rounds, wins, conflicts, failures)
	if lastErr != nil {
		note += fmt.Sprintf(" (%v)", lastErr)
	}
	return roundsOK, failures, note
}

// forEach calls fn(i) for i in [0, n) on at most workers goroutines and
// returns the first error.
func forEach(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
