// Command eventstore reads, exports, imports and checks an eventstore table:
// the operator's view of a log whose items the AWS console cannot show
// (commits past about 1 KB are stored DEFLATE-compressed).
//
//	go install github.com/dynacommit/eventstore/cmd/eventstore@latest
//	eventstore -table events cat account#1
//
// Run it without arguments for its help; docs/cli.md has the same text and
// the exit codes: 0 ok, 1 verify found problems, 2 usage, 3 runtime error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dynacommit/eventstore"
)

// Exit codes.
const (
	exitOK       = 0 // done; verify found nothing wrong
	exitProblems = 1 // verify found broken invariants
	exitUsage    = 2 // bad flags, arguments or command
	exitRuntime  = 3 // a request or a file failed
)

const usage = `usage: eventstore [flags] COMMAND [command flags] [ARGS]

Reads, exports, imports and checks an eventstore table.

Commands:
  cat AGGREGATE [-from N] [-json] [-raw]
                                      the commits of one aggregate, events decoded
  cat AGGREGATE -snapshots            its snapshots, newest first
  log [-after ID] [-follow [-strict]] [-settle D] [-n N] [-json] [-raw]
                                      the global log in CommitID order; -follow
                                      tails it live until interrupted (-strict:
                                      in CommitID order, once settled); -n stops
                                      after N commits
  export [-after ID] [-settle D] [-raw]
                                      the global log as JSON lines on stdout,
                                      progress on stderr
  import [-create [-shards N]] FILE
                                      loads JSON lines written by export ("-" for
                                      stdin) with their CommitIDs; idempotent;
                                      -create makes the table first if missing
  stats                               commits, aggregates, shards, recorded
                                      settings and approximate size
  verify                              walks the table and reports every broken
                                      invariant; exit status 1 if any
  reshard -to N                       raises the scan shard count to N (a
                                      multiple of the current one) from a
                                      CommitID a minute ahead; see
                                      docs/resharding.md
  projection list|status|parked|retry|skip|reset
                                      the consumers of package projection
                                      (eventstore projection for its help)

Flags (before or after COMMAND):
  -table NAME       the event store table (default $EVENTSTORE_TABLE)
  -endpoint URL     DynamoDB endpoint, a URL or host:port (default
                    $DYNAMODB_ENDPOINT, else AWS's)
  -region NAME      AWS region (default from the AWS environment and config)
  -profile NAME     shared config profile (default $AWS_PROFILE)
  -bucket NAME      S3 bucket of offloaded events (Config.Offload), if any
  -prefix PREFIX    key prefix of offloaded events in the bucket
  -s3-endpoint URL  S3 endpoint (path-style), for local emulators

cat, log and export show events upcast by the upcasters the command was
built with (none as shipped); -raw shows them as stored.

Credentials and region come from the standard AWS environment variables and
shared config files; with a local -endpoint (not an AWS host) and none
configured, static dummy credentials and us-east-1. To start DynamoDB Local:
go run github.com/dynacommit/eventstore/dynamotest/serve. Exit status: 0 ok,
1 verify found problems, 2 usage, 3 runtime error (one line on stderr).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errProblems is verify's finding: exit status 1, already reported.
var errProblems = errors.New("problems found")

// env is what every command gets.
type env struct {
	opts   options
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// commands maps a command name to its implementation.
var commands = map[string]func(ctx context.Context, e *env, args []string) error{
	"cat":     runCat,
	"log":     runLog,
	"export":  runExport,
	"import":  runImport,
	"stats":   runStats,
	"verify":  runVerify,
	"reshard": runReshard,

	"projection": runProjection, // projection.go
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{opts: envOptions(), stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("eventstore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	e.opts.register(fs)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		return fail(stderr, e.opts, usageError{err.Error()})
	case fs.NArg() == 0:
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		return fail(stderr, e.opts, usagef("unknown command %q", name))
	}
	return fail(stderr, e.opts, cmd(ctx, e, fs.Args()[1:]))
}

// fail prints err as one line, in one form: "eventstore: " and the
// message, with the library's own "eventstore: " prefixes taken out, and
// at most one hint. It returns err's exit status.
func fail(stderr io.Writer, o options, err error) int {
	var u usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "eventstore: %s (eventstore help for usage)\n", escaped(message(err)))
		return exitUsage
	case errors.Is(err, syscall.ECONNREFUSED) && o.endpoint != "":
		err = unreachable(o.endpoint, err)
	}
	fmt.Fprintf(stderr, "eventstore: %s\n", escaped(oneLine(message(err))))
	return exitRuntime
}

// message is err's text without the "eventstore: " prefixes the library
// puts on each error it wraps: fail puts one in front.
func message(err error) string {
	return strings.ReplaceAll(strings.TrimPrefix(err.Error(), "eventstore: "), ": eventstore: ", ": ")
}

// parse parses a command's flags, which may come before or after its
// positional arguments, and checks the number of those. The global flags
// (-table, -endpoint, ...) are accepted after the command too.
func (e *env) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	fs.SetOutput(io.Discard)
	e.opts.register(fs)
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := e.opts.check(); err != nil {
		return nil, err
	}
	if len(rest) != positional {
		return nil, usagef("%s takes %d argument(s), got %d", fs.Name(), positional, len(rest))
	}
	return rest, nil
}

// settleFlag is -settle: a duration of 0 or more, or unset (the table's
// settle window).
type settleFlag struct {
	d   time.Duration
	set bool
}

func (f *settleFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *settleFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 10s or 0")
	}
	if d < 0 {
		return fmt.Errorf("%v is negative: want 0 or more", d)
	}
	f.d, f.set = d, true
	return nil
}

// options returns the scan options of the flag: WithSettle if set.
func (f *settleFlag) options() []eventstore.ScanOption {
	if !f.set {
		return nil
	}
	return []eventstore.ScanOption{eventstore.WithSettle(f.d)}
}
