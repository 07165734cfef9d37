package eventstore

import "time"

// WithClock returns cfg with the clock CommitIDs and the settle window are
// taken from set to now, instead of time.Now.
func WithClock(cfg Config, now func() time.Time) Config {
	cfg.now = now
	return cfg
}
