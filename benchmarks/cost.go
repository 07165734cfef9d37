package benchmarks

import (
	"sync"
	"testing"
	"time"

	"github.com/dynacommit/eventstore/internal/cpu"
)

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
	return Cost{At: time.Now(), Client: cpu.Self(), Server: serverCPU(), Machine: cpu.Machine()}
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

// serverCPU returns the CPU seconds used so far by DynamoDB Local: the
// java child process of this one, found on first use (0 if none).
func serverCPU() float64 { return serverClock()() }

var serverClock = sync.OnceValue(func() func() float64 {
	if f := cpu.Child("java"); f != nil {
		return f
	}
	return func() float64 { return 0 }
})
