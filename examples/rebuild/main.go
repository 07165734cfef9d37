// Rebuild is a projection rebuilder: it reads the whole log from its
// checkpoint, counting events by type per aggregate, then follows the live
// tail. It saves the projection and its checkpoint together, in one
// DynamoDB item, so when it is killed and restarted it resumes from the
// checkpoint and counts every commit exactly once. When it stops it prints
// the projection.
//
// On a fresh clone, against a DynamoDB Local started for the run, with 20
// demo commits to count (they are counted once the settle window, 10 s,
// has passed; then it prints the projection and exits):
//
//	scripts/with-dynamodb.sh go run ./examples/rebuild -table events -seed 20
//
// On an existing log, -once rebuilds up to now and exits; without it, it
// follows the log until interrupted (Ctrl-C). Without DYNAMODB_ENDPOINT it
// uses the standard AWS configuration.
//
// Progress (commits done, commits/s, checkpoint) goes to stderr every second.
// The event table is created if missing, and so is the state table -state
// (default "<table>-rebuild"). Keeping the whole projection in one item bounds it to 400 KB:
// a real projection writes its rows and the checkpoint in one transaction.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

func main() {
	table := flag.String("table", "", "event store table (required)")
	stateTable := flag.String("state", "", `table of the projection state (default "<table>-rebuild")`)
	shards := flag.Int("shards", 0, "ScanShards of the event store (0: the default)")
	settle := flag.Duration("settle", 0, "settle window: at least the WRITERS' deadline recorded in the table plus 5s (0: 10s, right for default writers)")
	saveEvery := flag.Int("save-every", 1000, "save the state after this many commits (and every second while busy)")
	seed := flag.Int("seed", 0, "first append this many demo commits, then stop once they are counted")
	once := flag.Bool("once", false, "rebuild up to now (Scan) and exit, instead of following the log")
	flag.Parse()
	if *table == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *stateTable == "" {
		*stateTable = *table + "-rebuild"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client, err := newClient(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cfg := eventstore.Config{Table: *table, ScanShards: *shards}
	if *settle > 0 {
		// This process never writes: its own deadline only has to pass
		// New's check. What counts is the writers' deadline, recorded in
		// the table; Scan refuses a window that does not cover it.
		cfg.Settle, cfg.MaxCommitLatency = *settle, min(eventstore.DefaultMaxCommitLatency, *settle/2)
	}
	store, err := eventstore.New(client, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	r := &rebuilder{store: store, state: &stateStore{client: client, table: *stateTable}, saveEvery: *saveEvery,
		progress: os.Stderr, once: *once}
	if *seed > 0 {
		if r.until, err = seedDemo(ctx, store, *seed); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "rebuild: appended %d demo commits; counting them once they settle\n", *seed)
	}
	err = r.run(ctx)
	if err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
	if r.p != nil {
		r.p.print(os.Stdout)
	}
}

// seedDemo appends n commits to a few demo aggregates and returns the
// CommitID of the last.
func seedDemo(ctx context.Context, store *eventstore.Store, n int) (string, error) {
	var last eventstore.Commit
	for i := range n {
		c, err := store.AppendNext(ctx, eventstore.Commit{
			AggregateID: fmt.Sprintf("demo-account#%d", i%3),
			Events:      []eventstore.Event{{Type: []string{"deposited", "withdrawn"}[i%2]}},
		})
		if err != nil {
			return "", err
		}
		last = c
	}
	return last.CommitID, nil
}

// newClient connects to DYNAMODB_ENDPOINT with static local credentials, or
// to AWS with the standard configuration.
func newClient(ctx context.Context) (*dynamodb.Client, error) {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, config.WithRegion("us-east-1"),
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.DisableValidateResponseChecksum = true // DynamoDB Local sends CRC32 0 on some errors
		}
	}), nil
}

// rebuilder folds the log into a projection.
type rebuilder struct {
	store     *eventstore.Store
	state     *stateStore
	saveEvery int
	progress  *os.File
	once      bool        // Scan to now and stop, instead of following
	until     string      // stop once this CommitID is counted, if set
	p         *projection // the projection, once run has loaded it
}

// run loads the saved projection, follows the log from its checkpoint and
// saves the projection every saveEvery commits and every second while
// commits arrive. It returns when ctx ends.
func (r *rebuilder) run(ctx context.Context) error {
	if err := r.state.create(ctx); err != nil {
		return err
	}
	p, err := r.state.load(ctx)
	if err != nil {
		return err
	}
	r.p = p
	saved := p.Checkpoint
	fmt.Fprintf(r.progress, "rebuild: resuming after %q with %d commits counted\n", p.Checkpoint, p.Commits)

	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	start, startCount := time.Now(), p.Commits
	save := func() error {
		if p.Checkpoint == saved {
			return nil
		}
		if err := r.state.save(ctx, p, saved); err != nil {
			return err
		}
		saved = p.Checkpoint
		return nil
	}
	// Tail yields the backlog first, then new commits; a ticker interleaves
	// the progress lines and time-based saves.
	follow := r.store.Tail
	if r.once {
		follow = r.store.Scan
	}
	commits := make(chan eventstore.Commit)
	errs := make(chan error, 1)
	go func() {
		defer close(commits)
		for c, err := range follow(ctx, p.Checkpoint) {
			if err != nil {
				errs <- err
				return
			}
			select {
			case commits <- c:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
		errs <- nil
	}()
	for {
		select {
		case c, ok := <-commits:
			if !ok {
				if err := <-errs; err != nil {
					return err
				}
				if ctx.Err() != nil { // Tail ends without an error when ctx ends
					return ctx.Err()
				}
				return save()
			}
			p.apply(c)
			if r.until != "" && c.CommitID >= r.until {
				return save()
			}
			if p.Commits%int64(r.saveEvery) == 0 {
				if err := save(); err != nil {
					return err
				}
			}
		case <-ticker.C:
			rate := float64(p.Commits-startCount) / time.Since(start).Seconds()
			fmt.Fprintf(r.progress, "rebuild: %d commits, %.0f commits/s, checkpoint %s\n", p.Commits, rate, p.Checkpoint)
			if err := save(); err != nil {
				return err
			}
		}
	}
}
