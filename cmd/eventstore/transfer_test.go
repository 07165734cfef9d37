package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// Issue 26, item 10: export writes event data as stored, byte for byte
// (no compaction, no HTML escaping), so that an export imports back into
// its own table (every commit already there) and into a fresh one
// unchanged.
func TestExportKeepsEventDataBytes(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	data := []string{
		`{"a": "<b>&</b>", "n": 1.50}`,
		"{\n  \"x\": [1, 2],\t\"s\": \"\u2028\"\n}",
		`"<script>"`,
	}
	var events []eventstore.Event
	for _, d := range data {
		events = append(events, eventstore.Event{Type: "t<&>", Data: json.RawMessage(d), Metadata: map[string]string{"k": "<v>"}})
	}
	if _, err := store.Append(ctx(t), eventstore.Commit{AggregateID: "a<&>", Version: 0, Events: events}); err != nil {
		t.Fatal(err)
	}
	exported := runCLI(t, table, "export", "-settle", "0").want(t, exitOK).stdout
	if strings.Contains(exported, `\u003c`) {
		t.Errorf("export escapes HTML:\n%s", exported)
	}
	file := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, table, "import", file).want(t, exitOK); !strings.Contains(r.stderr, "imported 0 commits in ") || !strings.Contains(r.stderr, ", 1 already there") {
		t.Errorf("import into its own table: %q", r.stderr)
	}
	fresh := dynamotest.TableName(t, dynamotest.Client(t))
	runCLI(t, fresh, "import", "-create", file).want(t, exitOK)
	other, _ := dynamotest.NewStore(t, eventstore.Config{Table: fresh})
	for c, err := range other.Query(ctx(t), "a<&>", 0) {
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range c.Events {
			if string(e.Data) != data[i] || e.Type != "t<&>" || e.Metadata["k"] != "<v>" {
				t.Errorf("event %d imported as %q %q %v, want %q", i, e.Type, e.Data, e.Metadata, data[i])
			}
		}
	}
}
