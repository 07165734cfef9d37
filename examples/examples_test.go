// Package examples_test runs every example the way its doc comment says,
// from the repository's root, as a user of a fresh clone would: each
// command starts what it needs.
package examples_test

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// want is a line each example prints when it ran through.
var want = map[string]string{
	"quickstart": "1. create table",
	"rebuild":    "20 commits, checkpoint",
	"streams":    " v0 ",
	"notify":     "4. the relay published",
}

// docCommand returns the command of an example's doc comment: its first
// indented line that starts with scripts/ or examples/.
func docCommand(t *testing.T, mainFile string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), mainFile, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(f.Doc.Text()) {
		if cmd, ok := strings.CutPrefix(line, "\t"); ok &&
			(strings.HasPrefix(cmd, "scripts/") || strings.HasPrefix(cmd, "examples/")) {
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatalf("%s: no command in its doc comment (an indented line starting scripts/ or examples/)", mainFile)
	return ""
}

func TestExamplesRunAsDocumented(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("-short: each example starts its own emulators")
	}
	mains, err := filepath.Glob("*/main.go")
	if err != nil || len(mains) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, mainFile := range mains {
		name := filepath.Dir(mainFile)
		t.Run(name, func(t *testing.T) {
			line, ok := want[name]
			if !ok {
				t.Fatalf("examples/%s has no expected output in examples_test.go's want", name)
			}
			cmdline := docCommand(t, mainFile)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-c", cmdline)
			cmd.Dir = ".."
			cmd.Env = withoutEndpoints(os.Environ())
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmdline, err, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), line) {
				t.Errorf("%s printed\n%s\nwant a line with %q", cmdline, stdout.String(), line)
			}
		})
	}
}

// withoutEndpoints drops the variables that point examples at emulators
// already running: the documented commands must start their own.
func withoutEndpoints(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "DYNAMODB_ENDPOINT=") && !strings.HasPrefix(kv, "SNS_ENDPOINT=") {
			out = append(out, kv)
		}
	}
	return out
}
