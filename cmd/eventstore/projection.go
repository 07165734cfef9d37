package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore/projection"
)

// projectionUsage is the help of the projection command, also in
// docs/cli.md and docs/projections.md.
const projectionUsage = `usage: eventstore projection SUBCOMMAND [ARGS]

Shows and steers the consumers run by package projection on the table.

Subcommands:
  list                        the consumers, one a line
  status NAME                 each partition: owner (or free), term,
                              checkpoint and its age, caught up, last lag,
                              commits handled this term, parked aggregates
  parked NAME                 the parked aggregates: partition, first
                              version not handled, attempts, when, error
  retry NAME AGGREGATE        hand the aggregate's parked commits again
  skip NAME AGGREGATE         skip its first parked commit, hand the rest
  reset NAME [-from ID] [-partitions N]
                              every checkpoint to ID ("" the beginning),
                              parked aggregates forgotten, holders fenced
`

// runProjection runs one subcommand of projection.
func runProjection(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, projectionUsage)
		return usagef("projection needs a subcommand")
	}
	sub, args := args[0], args[1:]
	var from string
	var partitions int
	fs := flag.NewFlagSet("projection "+sub, flag.ContinueOnError)
	positional := map[string]int{"list": 0, "status": 1, "parked": 1, "retry": 2, "skip": 2, "reset": 1}
	n, ok := positional[sub]
	if !ok {
		return usagef("unknown projection subcommand %q (list, status, parked, retry, skip, reset)", sub)
	}
	if sub == "reset" {
		fs.StringVar(&from, "from", "", "")
		fs.IntVar(&partitions, "partitions", 0, "")
	}
	rest, err := e.parse(fs, args, n)
	if err != nil {
		return err
	}
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	admin := projection.NewAdmin(c.client, e.opts.table)
	switch sub {
	case "list":
		return listConsumers(ctx, admin, e.stdout)
	case "status":
		return showStatus(ctx, admin, e.stdout, rest[0])
	case "parked":
		return showParked(ctx, admin, e.stdout, rest[0])
	case "retry":
		return done(e.stdout, admin.Retry(ctx, rest[0], rest[1]), "retry of %q requested; the holder acts within a third of its lease", rest[1])
	case "skip":
		return done(e.stdout, admin.Skip(ctx, rest[0], rest[1]), "skip of %q requested; the holder acts within a third of its lease", rest[1])
	default:
		return done(e.stdout, admin.Reset(ctx, rest[0], from, partitions), "consumer %s reset to %q", rest[0], from)
	}
}

func done(w io.Writer, err error, format string, args ...any) error {
	if err == nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
	return err
}

func listConsumers(ctx context.Context, admin *projection.Admin, w io.Writer) error {
	names, err := admin.Consumers(ctx)
	for _, n := range names {
		fmt.Fprintln(w, escaped(n))
	}
	return err
}

func showStatus(ctx context.Context, admin *projection.Admin, w io.Writer, name string) error {
	parts, err := admin.Status(ctx, name)
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintln(w, "partition  owner  term  checkpoint  age  caught-up  lag  handled  parked")
	for _, p := range parts {
		owner := "free"
		if p.Held(now) {
			owner = escaped(p.Owner)
		}
		fmt.Fprintf(w, "%d  %s  %d  %s  %s  %v  %v  %d  %d\n", p.Partition, owner, p.Term, orBeginning(p.Checkpoint),
			age(p.Checkpoint, now), p.CaughtUp, p.Lag, p.Handled, len(p.Parked))
	}
	return nil
}

func showParked(ctx context.Context, admin *projection.Admin, w io.Writer, name string) error {
	parked, err := admin.Parked(ctx, name)
	if err != nil {
		return err
	}
	for _, p := range parked {
		action := ""
		if p.Action != "" {
			action = "  (" + p.Action + " requested)"
		}
		fmt.Fprintf(w, "%s  partition %d  from version %d  %d attempts  %s  %s%s\n", escaped(p.AggregateID), p.Partition,
			p.Version, p.Attempts, p.At.UTC().Format(time.RFC3339), escaped(oneLine(p.Error)), action)
	}
	return nil
}

func orBeginning(checkpoint string) string {
	if checkpoint == "" {
		return "(beginning)"
	}
	return checkpoint
}

// age is how old a checkpoint is: how far, at most, the partition trails.
func age(checkpoint string, now time.Time) string {
	id, err := ulid.ParseStrict(checkpoint)
	if err != nil {
		return "-"
	}
	return now.Sub(ulid.Time(id.Time())).Round(100 * time.Millisecond).String()
}
