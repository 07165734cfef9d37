package benchmarks

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTicks is the unit of CPU times in /proc: USER_HZ, 100 on Linux.
const clockTicks = 100

// Cost is a snapshot of the CPU time spent so far by this process (the
// client), by the DynamoDB Local it started (the server), and by the whole
// machine. Two snapshots give the CPU per operation of each and the load
// that other processes put on the machine meanwhile. Server and machine
// figures need Linux's /proc and are 0 elsewhere; their resolution is 10 ms.
type Cost struct {
	At      time.Time
	Client  float64 // CPU seconds of this process
	Server  float64 // CPU seconds of DynamoDB Local (0 if not found)
	Machine float64 // busy CPU seconds of the machine, all processes
}

// TakeCost takes a snapshot.
func TakeCost() Cost {
	return Cost{At: time.Now(), Client: cpuSeconds(), Server: serverCPU(), Machine: machineBusy()}
}

// CostDelta is the CPU spent between two snapshots.
type CostDelta struct {
	Seconds        float64 // wall time
	Client, Server float64 // CPU seconds
	Other          float64 // CPU seconds of every other process
}

// Since returns what was spent since c.
func (c Cost) Since() CostDelta {
	now := TakeCost()
	d := CostDelta{Seconds: now.At.Sub(c.At).Seconds(), Client: now.Client - c.Client, Server: now.Server - c.Server}
	if now.Machine > 0 {
		d.Other = max(0, now.Machine-c.Machine-d.Client-d.Server)
	}
	return d
}

// Report adds to b the client and server CPU per op in µs over ops
// operations, and the other load on the machine in cores.
func (d CostDelta) Report(b *testing.B, ops int) {
	if ops <= 0 {
		return
	}
	b.ReportMetric(d.Client/float64(ops)*1e6, "client-µs/op")
	if d.Server > 0 {
		b.ReportMetric(d.Server/float64(ops)*1e6, "server-µs/op")
	}
	if d.Seconds > 0 {
		b.ReportMetric(d.Other/d.Seconds, "other-load-cores")
	}
}

// serverPath is the /proc stat file of DynamoDB Local, found on first use.
var serverPath string

// serverCPU returns the CPU seconds used so far by DynamoDB Local: the
// java child process of this one.
func serverCPU() float64 {
	if serverPath == "" {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, path := range stats {
			if f, ok := procStat(path); ok && f.comm == "java" && f.ppid == os.Getpid() {
				serverPath = path
				break
			}
		}
		if serverPath == "" {
			return 0
		}
	}
	f, _ := procStat(serverPath)
	return float64(f.ticks) / clockTicks
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

// machineBusy returns the busy CPU seconds of the machine from /proc/stat:
// all time but idle and iowait.
func machineBusy() float64 {
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
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is counted in user already
			break
		}
		n, _ := strconv.ParseInt(f, 10, 64)
		busy += n
	}
	return float64(busy) / clockTicks
}
