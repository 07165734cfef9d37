package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier/snstest"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// binary is the eventstore command, built once for the tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventstore-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "eventstore")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	dynamotest.Stop()
	snstest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// command returns the binary with args, the global flags of the test
// DynamoDB and table first, and static credentials in its environment.
func command(t *testing.T, table string, args ...string) *exec.Cmd {
	t.Helper()
	all := append([]string{"-endpoint", dynamotest.Endpoint(t), "-table", table}, args...)
	cmd := exec.Command(binary, all...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=", "EVENTSTORE_TABLE=")
	return cmd
}

func runCLI(t *testing.T, table string, args ...string) result {
	t.Helper()
	cmd := command(t, table, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

func (r result) want(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seed appends n commits to each of aggregates a and b, alternating.
func seed(t *testing.T, store *eventstore.Store, n int) []eventstore.Commit {
	t.Helper()
	var all []eventstore.Commit
	for v := range n {
		for _, agg := range []string{"account#a", "account#b"} {
			c, err := store.Append(ctx(t), eventstore.Commit{AggregateID: agg, Version: int64(v),
				Metadata: map[string]string{"user": "ann"},
				Events: []eventstore.Event{{Type: "deposited", Data: json.RawMessage(fmt.Sprintf(`{"amount":%d}`, v+1)),
					Metadata: map[string]string{"k": "v"}}}})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, c)
		}
	}
	return all
}

func jsonLines(t *testing.T, out string) []jsonCommit {
	t.Helper()
	var commits []jsonCommit
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var j jsonCommit
		if err := dec.Decode(&j); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
		commits = append(commits, j)
	}
	return commits
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "usage: eventstore"},
		{[]string{"help"}, exitOK, "usage: eventstore"},
		{[]string{"-h"}, exitOK, "usage: eventstore"},
		{[]string{"-table", "events", "frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"cat"}, exitUsage, "no table"},
		{[]string{"-table", "events", "cat"}, exitUsage, "cat takes 1 argument(s), got 0"},
		{[]string{"-table", "events", "log", "-bogus"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"-nope"}, exitUsage, "flag provided but not defined: -nope"},
	} {
		cmd := exec.Command(binary, tc.args...)
		cmd.Env = append(os.Environ(), "EVENTSTORE_TABLE=")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("eventstore %q: exit %d, output %q; want exit %d and %q", tc.args, code, out, tc.code, tc.out)
		}
		if tc.code == exitUsage && tc.args != nil && strings.Count(string(out), "\n") != 1 {
			t.Errorf("eventstore %q: error is not one line: %q", tc.args, out)
		}
	}
}

// TestHelpIsDocumented keeps docs/cli.md's copy of the help current.
func TestHelpIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), usage) {
		t.Error("docs/cli.md does not contain the help text of main.go's usage: copy it there")
	}
}

func TestRuntimeErrorIsOneLine(t *testing.T) {
	r := runCLI(t, "no-such-table", "stats").want(t, exitRuntime)
	if !strings.HasPrefix(r.stderr, "eventstore: table no-such-table") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line naming the table", r.stderr)
	}
}

func TestCat(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	commits := seed(t, store, 3)

	text := runCLI(t, table, "cat", "account#a").want(t, exitOK).stdout
	want := fmt.Sprintf("account#a v0 %s %s user=\"ann\"\n  deposited {\"amount\":1} k=\"v\"\n",
		commits[0].CommitID, commits[0].CommittedAt.Format(time.RFC3339Nano))
	if !strings.HasPrefix(text, want) || strings.Count(text, "account#a v") != 3 {
		t.Errorf("cat account#a:\n%s\nwant 3 commits, starting\n%s", text, want)
	}
	got := jsonLines(t, runCLI(t, table, "cat", "account#b", "-from", "1", "-json").want(t, exitOK).stdout)
	if len(got) != 2 || got[0].Version != 1 || got[0].CommitID != commits[3].CommitID ||
		string(got[1].Events[0].Data) != `{"amount":3}` || got[1].Metadata["user"] != "ann" {
		t.Errorf("cat -from 1 -json = %+v", got)
	}
	if r := runCLI(t, table, "cat", "account#none").want(t, exitRuntime); !strings.Contains(r.stderr, "no commits") {
		t.Errorf("cat of a missing aggregate: %q", r.stderr)
	}
}

func TestLog(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	commits := seed(t, store, 2)
	if out := runCLI(t, table, "log").want(t, exitOK).stdout; out != "" {
		t.Errorf("log within the default settle window printed %q, want nothing yet", out)
	}
	got := jsonLines(t, runCLI(t, table, "log", "-settle", "0", "-json").want(t, exitOK).stdout)
	if len(got) != len(commits) {
		t.Fatalf("log -json: %d commits, want %d", len(got), len(commits))
	}
	for i, c := range commits {
		if got[i].CommitID != c.CommitID {
			t.Errorf("log commit %d = %s, want %s (CommitID order)", i, got[i].CommitID, c.CommitID)
		}
	}
	after := runCLI(t, table, "log", "-settle", "0", "-after", commits[2].CommitID).want(t, exitOK).stdout
	if strings.Count(after, "\n  deposited") != 1 || !strings.Contains(after, commits[3].CommitID) {
		t.Errorf("log -after the third commit:\n%s\nwant the fourth only", after)
	}
}

func TestLogFollow(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	cmd := command(t, table, "log", "-follow", "-settle", "0", "-json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	commits := seed(t, store, 1)
	lines := bufio.NewScanner(stdout)
	for i := range commits {
		if !lines.Scan() {
			t.Fatalf("log -follow ended after %d commits: %v", i, lines.Err())
		}
		var j jsonCommit
		if err := json.Unmarshal(lines.Bytes(), &j); err != nil || j.CommitID != commits[i].CommitID {
			t.Errorf("line %d %s (%v), want commit %s", i, lines.Bytes(), err, commits[i].CommitID)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("log -follow after SIGINT: %v, want exit status 0", err)
	}
}

func TestExportImport(t *testing.T) {
	from, _, fromTable := newStore(t, eventstore.Config{})
	commits := seed(t, from, 3)
	toTable := dynamotest.TableName(t, dynamotest.Client(t))
	exported := runCLI(t, fromTable, "export", "-settle", "0").want(t, exitOK)
	if !strings.Contains(exported.stderr, "exported 6 commits in") ||
		!strings.Contains(exported.stderr, "last "+commits[5].CommitID) {
		t.Errorf("export progress: %q", exported.stderr)
	}
	file := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(file, []byte(exported.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	// The second run finds every commit stored: nothing twice, and it says so.
	for _, want := range []string{"imported 6 commits in ", "imported 0 commits in "} {
		r := runCLI(t, toTable, "import", "-create", "-shards", "2", file).want(t, exitOK)
		if !strings.Contains(r.stderr, want) {
			t.Errorf("import: %q, want %q", r.stderr, want)
		}
		if there := strings.Contains(r.stderr, ", 6 already there"); there != (want == "imported 0 commits in ") {
			t.Errorf("import: %q: the count of commits already there is wrong", r.stderr)
		}
	}
	again := runCLI(t, toTable, "export", "-settle", "0").want(t, exitOK)
	if again.stdout != exported.stdout {
		t.Errorf("the imported table exports\n%s\nwant\n%s", again.stdout, exported.stdout)
	}
	// A commit of the file that conflicts with the table is a runtime error naming it.
	other := strings.Replace(exported.stdout, commits[0].CommitID, ulid.Make().String(), 1)
	if err := os.WriteFile(file, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, toTable, "import", file).want(t, exitRuntime)
	if !strings.Contains(r.stderr, "commit 1:") || !strings.Contains(r.stderr, "conflict") {
		t.Errorf("import of a conflicting commit: %q", r.stderr)
	}
	runCLI(t, toTable, "verify").want(t, exitOK)
	if out := runCLI(t, toTable, "stats").want(t, exitOK).stdout; !strings.Contains(out, "shards      2 ") {
		t.Errorf("the table import -create -shards 2 made:\n%s", out)
	}
}

func TestStats(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex, ScanShards: 3})
	seed(t, store, 2)
	out := runCLI(t, table, "stats").want(t, exitOK).stdout
	for _, want := range []string{
		"commits     4\n",
		"aggregates  2 (version-0 commits); index aggregatesByFirstCommit lists 2\n",
		"shards      3 (recorded in the table)\n",
		"settings    maxCommitLatency=5000 scanShards=3\n",
		"size        about ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stats:\n%s\nwant %q", out, want)
		}
	}
}

func TestVerify(t *testing.T) {
	s3c, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(s3c, bucket, "blobs/")
	if err != nil {
		t.Fatal(err)
	}
	store, client, table := newStore(t, eventstore.Config{Offload: blobs, OffloadAbove: 1024})
	seed(t, store, 2)
	verify := func() result {
		return runCLI(t, table, "-bucket", bucket, "-prefix", "blobs/", "-s3-endpoint", snstest.Endpoint(t), "verify")
	}
	if r := verify().want(t, exitOK); !strings.Contains(r.stdout, "verify: 4 commits of 2 aggregates, 0 problems") {
		t.Errorf("verify of a sound table: %q", r.stdout)
	}

	// Large commits: one whose blob goes missing, one whose blob is altered.
	big := func(agg string) eventstore.Commit {
		raw := make([]byte, 4000)
		rand.Read(raw)
		data, _ := json.Marshal(base64.StdEncoding.EncodeToString(raw))
		c, err := store.Append(ctx(t), eventstore.Commit{AggregateID: agg, Version: 0,
			Events: []eventstore.Event{{Type: "big", Data: data}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	missing, altered := big("big#missing"), big("big#altered")
	keys := blobKeys(t, client, table)
	if _, err := s3c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("blobs/" + keys[missing.AggregateID])}); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Put(ctx(t), keys[altered.AggregateID], []byte("not the events")); err != nil {
		t.Fatal(err)
	}
	// An orphan: a blob of a commit older than the settle window that no item points to.
	orphan := "0123/0/" + ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Hour)), rand.Reader).String()
	if err := blobs.Put(ctx(t), orphan, []byte("left over")); err != nil {
		t.Fatal(err)
	}
	// A gap (version 2 of account#a missing), an order violation (version 1
	// of order#x older than version 0) and an undecodable item. The store
	// refuses the first two, so they are written as raw items.
	put := func(aggregateID string, version int64, commitID string) {
		t.Helper()
		id := ulid.MustParse(commitID)
		_, err := client.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: aggregateID},
			"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)},
			"commitId":    &types.AttributeValueMemberS{Value: commitID},
			"committedAt": &types.AttributeValueMemberN{Value: strconv.FormatUint(id.Time(), 10)},
			"shard":       &types.AttributeValueMemberN{Value: "0"},
			"events":      &types.AttributeValueMemberS{Value: `[{"t":"e"}]`},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("account#a", 3, ulid.Make().String())
	older := ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
	put("order#x", 0, ulid.Make().String())
	put("order#x", 1, older)
	_, err = client.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "broken#1"},
		"version":     &types.AttributeValueMemberN{Value: "0"},
		"commitId":    &types.AttributeValueMemberS{Value: ulid.Make().String()},
		"events":      &types.AttributeValueMemberS{Value: "not json"},
	}})
	if err != nil {
		t.Fatal(err)
	}

	r := verify().want(t, exitProblems)
	for _, want := range []string{
		`gap: aggregate "account#a" versions 2 to 2 missing (between 1 and 3)`,
		`order: aggregate "order#x" version 1 commit ` + older + " is not after version 0",
		`undecodable: aggregate "broken#1" version 0:`,
		`undecodable: aggregate "big#missing" version 0: eventstore: aggregate "big#missing" version 0: offloaded events ` + keys[missing.AggregateID],
		`undecodable: aggregate "big#altered" version 0:`,
		"orphaned blob: " + orphan,
		"problems\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output:\n%s\nwant %q", r.stdout, want)
		}
	}
	if !strings.Contains(r.stdout, "eventstore: corrupt commit item") || !strings.Contains(r.stdout, "6 problems") {
		t.Errorf("verify output:\n%s\nwant the altered blob as corrupt, 6 problems", r.stdout)
	}
}

// blobKeys maps aggregate ids to the blob keys of their offloaded commits.
func blobKeys(t *testing.T, client *dynamodb.Client, table string) map[string]string {
	t.Helper()
	out, err := client.Scan(ctx(t), &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, item := range out.Items {
		if k, ok := stringOf(item, "eventsKey"); ok {
			agg, _ := stringOf(item, "aggregateId")
			keys[agg] = k
		}
	}
	return keys
}

// newStore returns a store on a fresh table of the test DynamoDB, its
// client and the table's name.
func newStore(t *testing.T, cfg eventstore.Config) (*eventstore.Store, *dynamodb.Client, string) {
	t.Helper()
	cfg.Table = dynamotest.TableName(t, dynamotest.Client(t))
	store, client := dynamotest.NewStore(t, cfg)
	return store, client, cfg.Table
}

// Issue 26, item 1: log -n stops after N commits, and ends the Tail of
// -follow at once, without an interrupt.
func TestLogLimit(t *testing.T) {
	store, _, table := newStore(t, eventstore.Config{})
	commits := seed(t, store, 2)
	got := jsonLines(t, runCLI(t, table, "log", "-settle", "0", "-json", "-n", "3").want(t, exitOK).stdout)
	if len(got) != 3 || got[2].CommitID != commits[2].CommitID {
		t.Errorf("log -n 3 printed %d commits, want the first 3", len(got))
	}
	start := time.Now()
	got = jsonLines(t, runCLI(t, table, "log", "-follow", "-settle", "0", "-json", "-n", "1", "-after", commits[1].CommitID).want(t, exitOK).stdout)
	if len(got) != 1 || got[0].CommitID != commits[2].CommitID {
		t.Errorf("log -follow -n 1 printed %+v, want commit %s", got, commits[2].CommitID)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("log -follow -n 1 took %v to end", d)
	}
	runCLI(t, table, "log", "-n", "-1").want(t, exitUsage)
}
