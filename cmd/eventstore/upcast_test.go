package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// runIn runs the command in this process, as a binary built with the
// upcasters the package variable holds would.
func runIn(t *testing.T, table string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	all := append([]string{"-endpoint", dynamotest.Endpoint(t), "-table", table}, args...)
	code := run(ctx(t), all, strings.NewReader(""), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// TestUpcastCatLogExport: built with a v1 -> v2 -> v3 chain, cat, log and
// export show a stored v1 event as v3; with -raw they show it as stored,
// and export -raw is byte for byte the export of a command without
// upcasters. Not parallel: it sets the package's upcasters and the
// process's environment.
func TestUpcastCatLogExport(t *testing.T) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": ""} {
		t.Setenv(k, v)
	}
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table})
	stored := []eventstore.Event{
		{Type: "opened", Data: json.RawMessage(`{"name": "Ada <&>"}`), Metadata: map[string]string{"v": "1"}},
		{Type: "noted", Data: json.RawMessage(`[1, 2]`)},
	}
	if _, err := store.Append(ctx(t), eventstore.Commit{AggregateID: "acct#1", Events: stored}); err != nil {
		t.Fatal(err)
	}
	plain := runIn(t, table, "export", "-settle", "0").want(t, exitOK).stdout // no upcasters: what is stored

	step := func(field string) func(eventstore.Event) (eventstore.Event, error) {
		return func(e eventstore.Event) (eventstore.Event, error) {
			e.Data = append(e.Data[:len(e.Data)-1], []byte(`,`+field+`}`)...)
			return e, nil
		}
	}
	upcasters = []eventstore.Upcaster{
		{Type: "opened", Version: "1", ToVersion: "2", Upcast: step(`"b":2`)},
		{Type: "opened", Version: "2", ToType: "accountOpened", ToVersion: "3", Upcast: step(`"c":3`)},
	}
	t.Cleanup(func() { upcasters = nil })
	v3 := `{"type":"accountOpened","data":{"name": "Ada <&>","b":2,"c":3},"metadata":{"v":"3"}}`
	v1 := `{"type":"opened","data":{"name": "Ada <&>"},"metadata":{"v":"1"}}`

	for _, tt := range []struct {
		name string
		args []string
		want string // in stdout
	}{
		{"cat", []string{"cat", "-json", "acct#1"}, v3},
		{"cat -raw", []string{"cat", "-json", "-raw", "acct#1"}, v1},
		{"cat, text", []string{"cat", "acct#1"}, `accountOpened {"name": "Ada <&>","b":2,"c":3} v="3"`},
		{"cat -raw, text", []string{"cat", "-raw", "acct#1"}, `opened {"name": "Ada <&>"} v="1"`},
		{"log", []string{"log", "-settle", "0", "-json"}, v3},
		{"log -raw", []string{"log", "-settle", "0", "-json", "-raw"}, v1},
		{"log -follow", []string{"log", "-follow", "-settle", "0", "-n", "1", "-json"}, v3},
		{"log -follow -raw", []string{"log", "-follow", "-settle", "0", "-n", "1", "-json", "-raw"}, v1},
		{"export", []string{"export", "-settle", "0"}, v3},
		{"export -raw", []string{"export", "-settle", "0", "-raw"}, v1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runIn(t, table, tt.args...).want(t, exitOK)
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("%s:\n%s\nwant it to contain\n%s", tt.name, r.stdout, tt.want)
			}
			if !strings.Contains(r.stdout, `noted`) {
				t.Errorf("%s lost the event no upcaster selects:\n%s", tt.name, r.stdout)
			}
		})
	}
	if raw := runIn(t, table, "export", "-settle", "0", "-raw").want(t, exitOK).stdout; raw != plain {
		t.Errorf("export -raw:\n%s\nwant the stored commits, byte for byte:\n%s", raw, plain)
	}
	if strings.Contains(plain, "accountOpened") {
		t.Errorf("export without upcasters upcast:\n%s", plain)
	}
}
