package limits

import "time"

// bucketKey names one token bucket: the write or the read capacity of one
// partition key value of a table or index.
type bucketKey struct {
	Key
	write bool
}

// bucket is a token bucket refilled lazily from the clock.
type bucket struct {
	tokens float64
	last   time.Time
}

// refill adds the tokens earned since the last refill, up to capacity. A
// clock that goes back earns nothing.
func (b *bucket) refill(now time.Time, rate, capacity float64) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(capacity, b.tokens+dt*rate)
		b.last = now
	}
}

// rates returns the refill rate and capacity of the buckets of kind k.
func (s *Simulator) rates(write bool) (rate, capacity float64) {
	if write {
		return s.writeRate, s.writeBurst
	}
	return s.readRate, s.readBurst
}

// bucketLocked returns the bucket of k, refilled to now, creating a full
// one. s.mu must be held.
func (s *Simulator) bucketLocked(k bucketKey, now time.Time) *bucket {
	rate, capacity := s.rates(k.write)
	b := s.buckets[k]
	if b == nil {
		s.sweepLocked(now)
		b = &bucket{tokens: capacity, last: now}
		s.buckets[k] = b
		return b
	}
	b.refill(now, rate, capacity)
	return b
}

// sweepLocked drops, every 4,096 new buckets, the buckets that are full
// again: a new bucket is the same.
func (s *Simulator) sweepLocked(now time.Time) {
	if s.swept++; s.swept < 4096 {
		return
	}
	s.swept = 0
	for k, b := range s.buckets {
		rate, capacity := s.rates(k.write)
		if b.refill(now, rate, capacity); b.tokens >= capacity {
			delete(s.buckets, k)
		}
	}
}

// charge is units to take from one bucket.
type charge struct {
	bucketKey
	units float64
}

// admit takes the charges from their buckets and returns true, or, if one
// bucket cannot pay, takes nothing, counts a throttle on that bucket's key
// and returns it with false. A write bucket pays when it holds the units
// (or is full, for an item larger than the bucket); a read bucket pays
// unless it is in debt, for reads are charged once their size is known.
func (s *Simulator) admit(charges []charge) (bucketKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	need := map[bucketKey]float64{}
	for _, c := range charges {
		need[c.bucketKey] += c.units
	}
	for _, c := range charges {
		b := s.bucketLocked(c.bucketKey, now)
		_, capacity := s.rates(c.write)
		if (c.write && b.tokens < min(need[c.bucketKey], capacity)) || b.tokens < 0 {
			s.countLocked(c.bucketKey, 0, 1)
			return c.bucketKey, false
		}
	}
	s.chargeLocked(charges, now)
	return bucketKey{}, true
}

// pay takes the charges unconditionally (negative units give back); the
// buckets may go into debt.
func (s *Simulator) pay(charges []charge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chargeLocked(charges, s.cfg.Now())
}

func (s *Simulator) chargeLocked(charges []charge, now time.Time) {
	for _, c := range charges {
		if c.units == 0 {
			continue
		}
		b := s.bucketLocked(c.bucketKey, now)
		_, capacity := s.rates(c.write)
		b.tokens = min(capacity, b.tokens-c.units)
		s.countLocked(c.bucketKey, c.units, 0)
	}
}

// negate returns the charges that give cs back.
func negate(cs []charge) []charge {
	out := make([]charge, len(cs))
	for i, c := range cs {
		out[i] = charge{c.bucketKey, -c.units}
	}
	return out
}
