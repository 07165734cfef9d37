package benchmarks

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Latencies records, per CommitID, when a commit's Append returned and when
// it arrived downstream (a Tail's yield, an SQS receipt), and reports the
// percentiles of the difference. It is safe for concurrent use.
type Latencies struct {
	mu       sync.Mutex
	sent     map[string]time.Time
	arrived  map[string]time.Time
	repeated int
}

// NewLatencies returns an empty record.
func NewLatencies() *Latencies {
	return &Latencies{sent: map[string]time.Time{}, arrived: map[string]time.Time{}}
}

// Sent records that the Append of commitID returned at t.
func (l *Latencies) Sent(commitID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[commitID] = t
}

// Arrived records that commitID arrived at t; a second arrival counts as a
// repeat and keeps the first time.
func (l *Latencies) Arrived(commitID string, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.arrived[commitID]; ok {
		l.repeated++
		return
	}
	l.arrived[commitID] = t
}

// Missing counts the commits sent that have not arrived.
func (l *Latencies) Missing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id := range l.sent {
		if _, ok := l.arrived[id]; !ok {
			n++
		}
	}
	return n
}

// Repeated counts the arrivals of commits that had arrived already.
func (l *Latencies) Repeated() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.repeated
}

// Percentiles returns the p50, p99 and largest latency of the commits sent
// and arrived (a commit that arrived before its Append returned counts 0).
func (l *Latencies) Percentiles() (p50, p99, max time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d []time.Duration
	for id, sent := range l.sent {
		if at, ok := l.arrived[id]; ok {
			d = append(d, max0(at.Sub(sent)))
		}
	}
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return d[len(d)/2], d[(len(d)*99)/100], d[len(d)-1]
}

// Report adds p50-ms, p99-ms and max-ms to b.
func (l *Latencies) Report(b *testing.B) {
	p50, p99, max := l.Percentiles()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(max), "max-ms")
}

func max0(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// has reports whether commitID arrived.
func (l *Latencies) has(commitID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.arrived[commitID]
	return ok
}
