// Package cpu reads CPU times for the benchmarks: this process's, a child
// process's (DynamoDB Local's java) and the whole machine's, so that a
// figure can say what the client, the server and everything else spent.
// Child and machine times need Linux's /proc (10 ms resolution) and are 0
// elsewhere.
package cpu

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the unit of CPU times in /proc: USER_HZ, 100 on Linux.
const clockTicks = 100

// Child returns a function reporting the CPU seconds used so far by the
// child process of this one named comm, or nil if there is none.
func Child(comm string) func() float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		if f, ok := procStat(path); ok && f.comm == comm && f.ppid == os.Getpid() {
			return func() float64 {
				f, _ := procStat(path)
				return float64(f.ticks) / clockTicks
			}
		}
	}
	return nil
}

type procFields struct {
	comm  string
	ppid  int
	ticks int64 // utime + stime
}

// procStat reads /proc/PID/stat: "pid (comm) state ppid ... utime stime ...".
func procStat(path string) (procFields, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procFields{}, false
	}
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procFields{}, false
	}
	rest := strings.Fields(string(b[end+1:])) // rest[0] is field 3, state
	if len(rest) < 13 {
		return procFields{}, false
	}
	ppid, _ := strconv.Atoi(rest[1])
	utime, _ := strconv.ParseInt(rest[11], 10, 64)
	stime, _ := strconv.ParseInt(rest[12], 10, 64)
	return procFields{comm: string(b[open+1 : end]), ppid: ppid, ticks: utime + stime}, true
}

// Machine returns the busy CPU seconds of the machine from /proc/stat: all
// time but idle and iowait (guest time is in user already); 0 without it.
func Machine() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(line))
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, f := range fields[1:min(len(fields), 9)] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		busy += n
	}
	return float64(busy) / clockTicks
}
