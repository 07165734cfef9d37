package eventstore

import "time"

// WithClock returns cfg with the clock CommitIDs and the settle window are
// taken from set to now, instead of time.Now.
func WithClock(cfg Config, now func() time.Time) Config {
	cfg.now = now
	return cfg
}

// WithReshardLead returns cfg with the reshard lead set to d instead of
// ReshardLead, so that a test sees a boundary pass within seconds.
func WithReshardLead(cfg Config, d time.Duration) Config {
	cfg.reshardLead = d
	return cfg
}
