package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dynacommit/eventstore"
)

func runExport(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	after := fs.String("after", "", "")
	var settle settleFlag
	fs.Var(&settle, "settle", "")
	raw := fs.Bool("raw", false, "")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	e.opts.upcast = !*raw
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	opts := settle.options()
	out := bufio.NewWriterSize(e.stdout, 1<<20)
	lines := newJSONWriter()
	prog := newProgress(e.stderr, "exported", time.Now())
	for commit, err := range c.store.Scan(ctx, *after, opts...) {
		if err != nil {
			return err
		}
		line, err := lines.line(commit)
		if err != nil {
			return err
		}
		if _, err := out.Write(line); err != nil {
			return err
		}
		prog.add(commit)
	}
	if err := out.Flush(); err != nil {
		return err
	}
	prog.done()
	return nil
}

func runImport(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	create := fs.Bool("create", false, "")
	shards := fs.Int("shards", 0, "")
	rest, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *create {
		if err := createTable(ctx, e.opts, *shards); err != nil {
			return err
		}
	}
	in := e.stdin
	if rest[0] != "-" {
		f, err := os.Open(rest[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<20))
	prog := newProgress(e.stderr, "imported", time.Now())
	prog.size, prog.offset = fileSize(in), dec.InputOffset
	for n := 1; ; n++ {
		var j jsonCommit
		if err := dec.Decode(&j); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s: commit %d: %w", rest[0], n, err)
		}
		c.puts.taken.Store(false)
		commit, err := c.store.Import(ctx, j.commit())
		if err != nil {
			return fmt.Errorf("%s: commit %d: %w", rest[0], n, err)
		}
		if c.puts.taken.Load() { // stored, without a write: it was there
			prog.there++
		}
		prog.add(commit)
	}
	prog.done()
	return nil
}

// fileSize is the size of in if it is a regular file, else 0 (unknown).
func fileSize(in io.Reader) int64 {
	f, ok := in.(*os.File)
	if !ok {
		return 0
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return 0
	}
	return info.Size()
}

// progress prints, at most once a second, how far a transfer has come:
// commits, commits/s, the position (CommitID and its time) and an ETA.
// An import of a file knows its size: the ETA is from the share of the
// file read. An export (or an import from a pipe) goes up to now: as
// CommitIDs are time-ordered, the ETA is from how fast the position's
// time approaches now.
type progress struct {
	w           io.Writer
	verb        string
	start, last time.Time
	n           int
	there       int // commits found stored already (import)
	first, pos  time.Time
	lastID      string
	now         func() time.Time
	size        int64        // bytes of the input, 0 if unknown
	offset      func() int64 // bytes of the input read so far
}

func newProgress(w io.Writer, verb string, now time.Time) *progress {
	return &progress{w: w, verb: verb, start: now, last: now, now: time.Now}
}

func (p *progress) add(c eventstore.Commit) {
	p.n++
	if p.first.IsZero() {
		p.first = c.CommittedAt
	}
	p.pos, p.lastID = c.CommittedAt, c.CommitID
	if now := p.now(); now.Sub(p.last) >= time.Second {
		p.last = now
		fmt.Fprintln(p.w, p.line(now))
	}
}

func (p *progress) line(now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(p.n) / max(elapsed, 1e-9)
	s := fmt.Sprintf("%s %d commits, %.0f commits/s, at %s (%s)", p.verb, p.n, rate, p.lastID, p.pos.Format(time.RFC3339))
	if eta, ok := p.eta(now); ok {
		s += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
	}
	return s
}

// eta is the time left: from the share of the file read, or else from
// the position's time, which approaches now.
func (p *progress) eta(now time.Time) (time.Duration, bool) {
	elapsed := now.Sub(p.start)
	if elapsed <= 0 {
		return 0, false
	}
	if p.size > 0 && p.offset != nil {
		read := p.offset()
		if read <= 0 {
			return 0, false
		}
		return time.Duration(float64(elapsed) * float64(max(p.size-read, 0)) / float64(read)), true
	}
	covered, left := p.pos.Sub(p.first), now.Sub(p.pos)
	if covered <= 0 {
		return 0, false
	}
	return time.Duration(float64(left) / float64(covered) * float64(elapsed)), true
}

func (p *progress) done() {
	elapsed := p.now().Sub(p.start)
	fmt.Fprintf(p.w, "%s %d commits in %s", p.verb, p.n-p.there, elapsed.Round(time.Millisecond))
	if p.there > 0 {
		fmt.Fprintf(p.w, ", %d already there", p.there)
	}
	if p.n > 0 {
		fmt.Fprintf(p.w, ", last %s", p.lastID)
	}
	fmt.Fprintln(p.w)
}

// createTable creates the table, with shards scan shards (0: the default),
// unless it exists.
func createTable(ctx context.Context, o options, shards int) error {
	cfg, err := awsConfig(ctx, o)
	if err != nil {
		return err
	}
	client, err := dynamoClient(ctx, cfg, o)
	if err != nil {
		return err
	}
	store, err := eventstore.New(client, eventstore.Config{Table: o.table, ScanShards: shards})
	if err != nil {
		return err
	}
	return store.CreateTable(ctx)
}
