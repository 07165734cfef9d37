package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dynacommit/eventstore"
)

// jsonCommit is a commit as one line of JSON: the output of -json and
// export, the input of import.
type jsonCommit struct {
	AggregateID string            `json:"aggregateId"`
	Version     int64             `json:"version"`
	CommitID    string            `json:"commitId"`
	CommittedAt time.Time         `json:"committedAt"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Events      []jsonEvent       `json:"events"`
}

type jsonEvent struct {
	Type     string            `json:"type"`
	Data     json.RawMessage   `json:"data,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// jsonWriter writes commits as jsonCommit lines, each event's data as
// stored, byte for byte: encoding/json would compact it and escape HTML
// (<, >, &), and Import finds a commit with other data bytes a conflict.
// So a commit is one line unless an event's data holds line breaks
// (between its JSON tokens); import reads JSON values, not lines.
type jsonWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter() *jsonWriter {
	w := &jsonWriter{}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	return w
}

// line returns c as JSON and a newline. The buffer is reused by the next
// call.
func (w *jsonWriter) line(c eventstore.Commit) ([]byte, error) {
	w.buf.Reset()
	w.buf.WriteString(`{"aggregateId":`)
	w.value(c.AggregateID)
	w.buf.WriteString(`,"version":` + strconv.FormatInt(c.Version, 10) + `,"commitId":`)
	w.value(c.CommitID)
	w.buf.WriteString(`,"committedAt":`)
	if err := w.value(c.CommittedAt); err != nil {
		return nil, fmt.Errorf("aggregate %q version %d: %w", c.AggregateID, c.Version, err)
	}
	if len(c.Metadata) > 0 {
		w.buf.WriteString(`,"metadata":`)
		w.value(c.Metadata)
	}
	w.buf.WriteString(`,"events":[`)
	for i, e := range c.Events {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.buf.WriteString(`{"type":`)
		w.value(e.Type)
		if len(e.Data) > 0 {
			w.buf.WriteString(`,"data":`)
			w.buf.Write(e.Data)
		}
		if len(e.Metadata) > 0 {
			w.buf.WriteString(`,"metadata":`)
			w.value(e.Metadata)
		}
		w.buf.WriteByte('}')
	}
	w.buf.WriteString("]}\n")
	return w.buf.Bytes(), nil
}

// value appends v's JSON to the buffer. Strings and string maps never
// fail; a time past year 9999 does.
func (w *jsonWriter) value(v any) error {
	n := w.buf.Len()
	if err := w.enc.Encode(v); err != nil {
		w.buf.Truncate(n)
		return err
	}
	w.buf.Truncate(w.buf.Len() - 1) // Encode's newline
	return nil
}

func (j jsonCommit) commit() eventstore.Commit {
	c := eventstore.Commit{AggregateID: j.AggregateID, Version: j.Version, CommitID: j.CommitID,
		Metadata: j.Metadata, Events: make([]eventstore.Event, len(j.Events))}
	for i, e := range j.Events {
		c.Events[i] = eventstore.Event{Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	return c
}

// printer writes commits as text or as JSON lines.
type printer struct {
	w    io.Writer
	json *jsonWriter // nil: text
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	p := &printer{w: w}
	if asJSON {
		p.json = newJSONWriter()
	}
	return p
}

func (p *printer) print(c eventstore.Commit) error {
	if p.json != nil {
		line, err := p.json.line(c)
		if err == nil {
			_, err = p.w.Write(line)
		}
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s v%d %s %s%s\n", field(c.AggregateID), c.Version, field(c.CommitID),
		c.CommittedAt.Format(time.RFC3339Nano), pairs(c.Metadata))
	for _, e := range c.Events {
		if err != nil {
			return err
		}
		data := field(string(e.Data))
		if data == "" {
			data = "-"
		}
		_, err = fmt.Fprintf(p.w, "  %s %s%s\n", field(e.Type), data, pairs(e.Metadata))
	}
	return err
}

// pairs formats metadata as " k=v k=v", sorted by key, each value quoted
// and each key as a field (see term.go).
func pairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%q", field(k), m[k])
	}
	return b.String()
}

func runCat(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("cat", flag.ContinueOnError)
	from := fs.Int64("from", 0, "")
	asJSON := fs.Bool("json", false, "")
	snapshots := fs.Bool("snapshots", false, "")
	raw := fs.Bool("raw", false, "")
	rest, err := e.parse(fs, args, 1)
	if err != nil {
		return err
	}
	e.opts.upcast = !*raw
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	if *snapshots {
		return catSnapshots(ctx, e, c, rest[0])
	}
	p := newPrinter(e.stdout, *asJSON)
	n := 0
	for commit, err := range c.store.Query(ctx, rest[0], *from) {
		if err != nil {
			return err
		}
		if err := p.print(commit); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("aggregate %q has no commits from version %d", rest[0], *from)
	}
	return nil
}

func runLog(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	after := fs.String("after", "", "")
	follow := fs.Bool("follow", false, "")
	strict := fs.Bool("strict", false, "")
	var settle settleFlag
	fs.Var(&settle, "settle", "")
	limit := fs.Int64("n", 0, "")
	asJSON := fs.Bool("json", false, "")
	raw := fs.Bool("raw", false, "")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("log: -n %d: want a count of commits, 0 for all", *limit)
	}
	e.opts.upcast = !*raw
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	if *strict && !*follow {
		return usagef("log: -strict is an option of -follow")
	}
	opts := settle.options()
	commits := c.store.Scan(ctx, *after, opts...)
	switch {
	case *follow && *strict:
		commits = c.store.Tail(ctx, *after, opts...)
	case *follow: // live: each commit within a second of its write
		commits = c.store.Tail(ctx, *after, append(opts, eventstore.Live())...)
	}
	p := newPrinter(e.stdout, *asJSON)
	n := int64(0)
	for commit, err := range commits {
		if isCancel(ctx, err) {
			return nil // interrupted while following
		}
		if err != nil {
			return err
		}
		if err := p.print(commit); err != nil {
			return err
		}
		if n++; n == *limit {
			break // ends the Scan or Tail: it stops its requests
		}
	}
	return nil
}

// catSnapshots prints the snapshots of an aggregate, newest first: what
// they are, not commits.
func catSnapshots(ctx context.Context, e *env, c *conn, aggregateID string) error {
	n := 0
	for snap, err := range c.store.Snapshots(ctx, aggregateID) {
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, escaped(fmt.Sprintf("snapshot aggregate=%q version=%d tag=%q commit=%s saved=%s bytes=%d",
			snap.AggregateID, snap.Version, snap.Tag, snap.CommitID, snap.SavedAt.UTC().Format(time.RFC3339Nano), len(snap.State))))
		n++
	}
	if n == 0 {
		return fmt.Errorf("aggregate %q has no snapshots", aggregateID)
	}
	return nil
}
