package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Lag models how long a write takes to show in a global secondary index:
// after an item is written, index Queries and Scans do not return it for a
// sampled delay. The delay is log-normal with the quantiles P50 and P99, at
// most Tail, and equal to Tail for a fraction TailFraction of writes. Its
// zero value means the defaults: 50 ms, 800 ms, 3 s and 0.1 %, seed 0.
//
// An item updated during its lag is hidden entirely, its old image too,
// until the new one is visible; a deleted item disappears at once. Local
// secondary indexes and the table itself have no lag.
type Lag struct {
	// Disabled turns the lag off: index reads see every write at once.
	Disabled bool
	// P50 is the median delay. Zero means 50 ms.
	P50 time.Duration
	// P99 is the 99th percentile of the delay. Zero means 800 ms.
	P99 time.Duration
	// Tail is the delay of the slowest writes, and the longest. Zero means
	// 3 s.
	Tail time.Duration
	// TailFraction is the fraction of writes delayed by Tail, below 0.01.
	// Zero means 0.001; negative means none.
	TailFraction float64
	// Seed seeds the samples: one seed, one sequence of delays.
	Seed uint64
}

func (l *Lag) setDefaults() {
	if l.P50 == 0 {
		l.P50 = 50 * time.Millisecond
	}
	if l.P99 == 0 {
		l.P99 = 800 * time.Millisecond
	}
	if l.Tail == 0 {
		l.Tail = 3 * time.Second
	}
	if l.TailFraction == 0 {
		l.TailFraction = 0.001
	}
	if l.TailFraction < 0 {
		l.TailFraction = 0
	}
}

// validate checks a Lag with its defaults set.
func (l *Lag) validate() error {
	var errs []error
	if l.P50 <= 0 || l.P99 < l.P50 || l.Tail < l.P99 {
		errs = append(errs, fmt.Errorf("limits: Lag must have 0 < P50 (%v) <= P99 (%v) <= Tail (%v)", l.P50, l.P99, l.Tail))
	}
	if !(l.TailFraction < 0.01) {
		errs = append(errs, fmt.Errorf("limits: Lag.TailFraction %v must be below 0.01", l.TailFraction))
	}
	return errors.Join(errs...)
}

// lagState is the lag model's state: its parameters, its random source, and
// when each recent index item becomes visible. It is guarded by
// Simulator.mu.
type lagState struct {
	cfg       Lag
	mu, sigma float64 // of the log-normal body, in log seconds
	rng       *rand.Rand
	visible   map[string]time.Time // table, index and base key to when
	inserts   int
}

// newLagState fits the log-normal body so that the mixture with the tail
// has the quantiles P50 and P99.
func newLagState(l Lag) lagState {
	body := 1 - l.TailFraction
	z50, z99 := probit(0.5/body), probit(0.99/body)
	lo, hi := math.Log(l.P50.Seconds()), math.Log(l.P99.Seconds())
	sigma := (hi - lo) / (z99 - z50)
	return lagState{
		cfg:     l,
		sigma:   sigma,
		mu:      lo - z50*sigma,
		rng:     rand.New(rand.NewPCG(l.Seed, l.Seed^0x9e3779b97f4a7c15)),
		visible: map[string]time.Time{},
	}
}

// probit is the inverse of the standard normal distribution function.
func probit(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// sample draws one delay.
func (l *lagState) sample() time.Duration {
	if l.rng.Float64() < l.cfg.TailFraction {
		return l.cfg.Tail
	}
	d := time.Duration(math.Exp(l.mu+l.sigma*l.rng.NormFloat64()) * float64(time.Second))
	return min(d, l.cfg.Tail)
}

// recordLag starts the lag of w's new image in each global index it lands
// in.
func (s *Simulator) recordLag(w *writeOp) {
	if s.cfg.Lag.Disabled || w.new == nil || w.tableOnly {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	l := &s.lag
	for i := range w.sch.indexes {
		ix := &w.sch.indexes[i]
		if !ix.global || !ix.lands(w.new) {
			continue
		}
		l.visible[lagKey(w.sch, ix, w.new)] = now.Add(l.sample())
		if l.inserts++; l.inserts >= 4096 {
			l.inserts = 0
			for k, at := range l.visible {
				if !now.Before(at) {
					delete(l.visible, k)
				}
			}
		}
	}
}

func lagKey(sch *schema, ix *index, it item) string {
	return sch.table + "\x00" + ix.name + "\x00" + sch.keyString(it)
}

// hideLagged removes from a Query or Scan answer of ix the items still in
// their lag, and lowers Count and ScannedCount to match. It returns the new
// answer, or nil if it hides nothing.
func (t *transport) hideLagged(sch *schema, ix *index, data []byte) []byte {
	s := t.sim
	if ix == nil || !ix.global || s.cfg.Lag.Disabled {
		return nil
	}
	var out map[string]any
	if json.Unmarshal(data, &out) != nil {
		return nil
	}
	items, _ := out["Items"].([]any)
	kept := items[:0:0]
	s.mu.Lock()
	now := s.cfg.Now()
	for _, v := range items {
		it, _ := v.(map[string]any)
		if at, ok := s.lag.visible[lagKey(sch, ix, it)]; ok && now.Before(at) {
			continue
		}
		kept = append(kept, v)
	}
	s.mu.Unlock()
	hidden := len(items) - len(kept)
	if hidden == 0 {
		return nil
	}
	out["Items"] = kept
	for _, f := range []string{"Count", "ScannedCount"} {
		if n, ok := out[f].(float64); ok {
			out[f] = max(0, n-float64(hidden))
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return data
}
