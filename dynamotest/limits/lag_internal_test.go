package limits

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// The lag model's samples have the configured quantiles and tail.
func TestLagDistribution(t *testing.T) {
	for _, l := range []Lag{
		{},
		{P50: 10 * time.Millisecond, P99: 100 * time.Millisecond, Tail: time.Second, TailFraction: 0.005, Seed: 7},
		{P50: 20 * time.Millisecond, P99: 20 * time.Millisecond, TailFraction: -1},
	} {
		l.setDefaults()
		if err := l.validate(); err != nil {
			t.Fatal(err)
		}
		st := newLagState(l)
		const n = 200_000
		d := make([]time.Duration, n)
		tail := 0
		for i := range d {
			if d[i] = st.sample(); d[i] == l.Tail {
				tail++
			}
		}
		slices.Sort(d)
		p50, p99 := d[n/2], d[n*99/100]
		t.Logf("%+v: p50 %v, p99 %v, max %v, %.3f %% at the tail", l, p50, p99, d[n-1], 100*float64(tail)/n)
		near := func(got, want time.Duration, tol float64) bool {
			return math.Abs(got.Seconds()-want.Seconds()) <= tol*want.Seconds()
		}
		if !near(p50, l.P50, 0.03) || !near(p99, l.P99, 0.05) {
			t.Errorf("%+v: p50 %v, p99 %v", l, p50, p99)
		}
		if want := l.TailFraction * n; math.Abs(float64(tail)-want) > 4*math.Sqrt(want)+n*0.0003 {
			t.Errorf("%+v: %d samples at the tail, want about %.0f", l, tail, want)
		}
		if d[n-1] > l.Tail || d[0] <= 0 {
			t.Errorf("%+v: samples from %v to %v, want in (0, %v]", l, d[0], d[n-1], l.Tail)
		}
		a, b := newLagState(l), newLagState(l)
		for range 100 {
			if x, y := a.sample(), b.sample(); x != y {
				t.Fatalf("%+v: seed %d gives %v then %v", l, l.Seed, x, y)
			}
		}
	}
}

// A bucket refills at its rate up to its capacity, and a clock that goes
// back earns nothing.
func TestBucket(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := New(Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	k := bucketKey{Key{"t", "", "a"}, true}
	take := func(units float64) bool { _, ok := s.admit([]charge{{k, units}}); return ok }
	if !take(100) || take(1) {
		t.Fatal("a new bucket holds 1 s of 100 WCU/s, no more")
	}
	now = now.Add(10 * time.Millisecond)
	if !take(1) || take(1) {
		t.Error("10 ms earns 1 WCU")
	}
	now = now.Add(-time.Hour)
	if take(1) {
		t.Error("a clock going back earned units")
	}
	now = now.Add(2 * time.Hour)
	if !take(100) || take(1) {
		t.Error("an idle bucket holds its capacity, no more")
	}
	if !take(0) {
		t.Error("an empty write bucket refuses a free read check")
	}
	now = now.Add(time.Second)
	if !take(250) { // larger than the bucket: admitted when full
		t.Error("an item larger than the bucket is never admitted")
	}
	s.pay(nil)
	if c := s.Stats().Keys[k.Key]; c.WriteUnits != 451 || c.WriteThrottles != 4 {
		t.Errorf("counter %+v, want 451 WCU, 4 throttles", c)
	}
}

// New names every invalid field.
func TestNewInvalid(t *testing.T) {
	_, err := New(Config{Scale: -1, ReadUnits: math.NaN(), Burst: -time.Second, Lag: Lag{P50: time.Second, TailFraction: 0.5}})
	for _, want := range []string{"Scale", "ReadUnits", "Burst", "P50", "TailFraction"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
