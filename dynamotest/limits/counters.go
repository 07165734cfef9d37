package limits

// Key names a partition key value of a table (Index empty) or of one of its
// indexes. Value is the key's value as sent: the string, the number's
// digits, or the binary in base64.
type Key struct {
	Table string
	Index string
	Value string
}

// Counter counts what requests consumed and how often they were throttled.
type Counter struct {
	ReadUnits      float64
	WriteUnits     float64
	ReadThrottles  int64
	WriteThrottles int64
}

func (c *Counter) add(o Counter) {
	c.ReadUnits += o.ReadUnits
	c.WriteUnits += o.WriteUnits
	c.ReadThrottles += o.ReadThrottles
	c.WriteThrottles += o.WriteThrottles
}

// Resource names a table (Index empty) or one of its indexes.
type Resource struct {
	Table string
	Index string
}

// Stats is a snapshot of a Simulator's counters.
type Stats struct {
	// Total sums every table and index.
	Total Counter
	// Resources has one counter per table and per index.
	Resources map[Resource]Counter
	// Keys has one counter per partition key value of a table or index.
	Keys map[Key]Counter
}

// Stats returns the units consumed and the throttles since New or the last
// Reset. Units given back (a write refused by the server, the index part of
// a write whose condition failed) are subtracted. It is safe for concurrent
// use.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Resources: map[Resource]Counter{}, Keys: make(map[Key]Counter, len(s.counters))}
	for k, c := range s.counters {
		st.Keys[k] = c
		st.Total.add(c)
		r := st.Resources[Resource{k.Table, k.Index}]
		r.add(c)
		st.Resources[Resource{k.Table, k.Index}] = r
	}
	return st
}

// Reset zeroes the counters. The buckets and the lag model keep their
// state. It is safe for concurrent use.
func (s *Simulator) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counters = map[Key]Counter{}
}

// countLocked adds units and throttles to the counter of k. s.mu must be
// held.
func (s *Simulator) countLocked(k bucketKey, units float64, throttles int64) {
	c := s.counters[k.Key]
	if k.write {
		c.WriteUnits += units
		c.WriteThrottles += throttles
	} else {
		c.ReadUnits += units
		c.ReadThrottles += throttles
	}
	s.counters[k.Key] = c
}
