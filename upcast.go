package eventstore

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Upcasting on read: the caller's functions that turn an event of an old
// schema into the current one, applied to every commit a read yields,
// never to what is stored. See Upcaster and doc.go, "Upcasting".

// DefaultSchemaVersionKey is the event metadata key that holds an event's
// schema version when Config.SchemaVersionKey is empty.
const DefaultSchemaVersionKey = "v"

// Upcaster turns stored events of one type and schema version into their
// next form, on every read: Query, Scan, strict and live Tail, Update's
// history, Store.ParseImage, DecodeItem, and so whatever reads through
// them (Events, Fold, the notifier's relay, the eventstore command). What
// is stored never changes: a retried Commit is still compared with the
// stored bytes (see Store.Append), and the package-level ParseImage and a
// store without upcasters read events as stored.
//
// An event's schema version is the value of its metadata key
// Config.SchemaVersionKey ("v" by default), which the writer sets; an
// event without it (or with "") has the version "". An upcaster applies to
// the events whose Type and version are its Type and Version, and declares
// what it makes of them: ToType (its Type when "") at ToVersion. Upcasters
// compose: the result is looked up again, so v1 -> v2 and v2 -> v3 turn a
// v1 event into a v3 one, and an event for which no upcaster is registered
// is the current form. New refuses upcasters that could run forever: two
// for the same type and version, or a chain that leads back to where it
// started (v1 -> v2 -> v1, or a type and version that maps to itself).
//
// Upcast gets the event (its Data is its own: appending to it never
// touches another event's) and returns the new one; the store then sets
// its Type to ToType and its schema version to ToVersion (removing the
// metadata key when ToVersion is ""), so an upcaster only has to rewrite
// Data (and may change other metadata). The returned Data must be JSON as
// Append would store it. One event becomes one event: an event's index in
// Commit.Events is the stored one.
//
// Upcast must be deterministic and safe for concurrent use (Scan decodes
// shards in parallel). When it returns an error or panics, or returns data
// that is not JSON, the read yields an *UpcastError, matching
// ErrUpcastFailed, that names the aggregate, version and event and wraps
// the upcaster's error, and ends, as for a commit that does not decode.
type Upcaster struct {
	// Type and Version select the stored events it applies to. Type must
	// not be empty; Version "" selects events without a schema version.
	Type, Version string
	// ToType and ToVersion are the type and schema version of the event
	// Upcast returns; ToType "" keeps Type.
	ToType, ToVersion string
	// Upcast turns one event into its next form.
	Upcast func(Event) (Event, error)
}

// upcastKey is what selects an upcaster: an event's type and schema version.
type upcastKey struct{ typ, version string }

func (k upcastKey) String() string {
	if k.version == "" {
		return strconv.Quote(k.typ) + " (no version)"
	}
	return fmt.Sprintf("%q version %q", k.typ, k.version)
}

// from is the key of the events u applies to; to that of the events it makes.
func (u *Upcaster) from() upcastKey { return upcastKey{u.Type, u.Version} }
func (u *Upcaster) to() upcastKey {
	if u.ToType == "" {
		return upcastKey{u.Type, u.ToVersion}
	}
	return upcastKey{u.ToType, u.ToVersion}
}

// upcasters is a store's upcasters by the key they apply to: copies of
// Config.Upcasters, which the caller may change after New.
type upcasters map[upcastKey]Upcaster

func indexUpcasters(list []Upcaster) upcasters {
	if len(list) == 0 {
		return nil
	}
	m := make(upcasters, len(list))
	for _, u := range list {
		m[u.from()] = u
	}
	return m
}

// validateUpcasters returns every problem of Config.Upcasters: each
// upcaster's own, two for one key, and each chain that loops.
func validateUpcasters(list []Upcaster) []error {
	var errs []error
	first := map[upcastKey]int{}
	for i, u := range list {
		if err := u.check(); err != nil {
			errs = append(errs, fmt.Errorf("eventstore: Config.Upcasters[%d]: %w", i, err))
		}
		if j, dup := first[u.from()]; dup {
			errs = append(errs, fmt.Errorf("eventstore: Config.Upcasters[%d] and [%d]: %w: both for %v", j, i, errDuplicateUpcaster, u.from()))
			continue
		}
		first[u.from()] = i
	}
	return append(errs, upcasterLoops(indexUpcasters(list))...)
}

func (u *Upcaster) check() error {
	var errs []error
	if u.Type == "" {
		errs = append(errs, errors.New("empty Type"))
	}
	if u.Upcast == nil {
		errs = append(errs, errors.New("nil Upcast"))
	}
	if err := validateMetadata(map[string]string{"Type": u.Type, "Version": u.Version, "ToType": u.ToType, "ToVersion": u.ToVersion}, false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// upcasterLoops returns an error for each chain that leads back into
// itself, naming its steps; a chain that loops is reported once.
func upcasterLoops(m upcasters) []error {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b upcastKey) int {
		return cmp.Or(strings.Compare(a.typ, b.typ), strings.Compare(a.version, b.version))
	})
	var errs []error
	done := map[upcastKey]bool{} // chains known to end, or reported
	for _, start := range keys {
		var path []upcastKey
		on := map[upcastKey]int{} // position on the current path
		k := start
		for {
			if done[k] {
				break
			}
			if i, loop := on[k]; loop {
				errs = append(errs, fmt.Errorf("eventstore: Config.Upcasters: %w: %v", errUpcasterLoop, chainString(append(path[i:], k))))
				break
			}
			u, ok := m[k]
			if !ok {
				break
			}
			on[k] = len(path)
			path = append(path, k)
			k = u.to()
		}
		for _, p := range path {
			done[p] = true
		}
	}
	return errs
}

func chainString(path []upcastKey) string {
	steps := make([]string, len(path))
	for i, k := range path {
		steps[i] = k.String()
	}
	return strings.Join(steps, " -> ")
}

// UpcastError reports a stored event that an upcaster could not turn into
// its next form: Upcast returned an error (Err) or panicked, or returned
// data that is not JSON. The event at index Event of the commit at Version
// of AggregateID had the Type and schema version SchemaVersion the
// upcaster was given. It matches ErrUpcastFailed with errors.Is, and
// unwraps to Err.
type UpcastError struct {
	AggregateID   string
	Version       int64
	Event         int
	Type          string
	SchemaVersion string
	Err           error
}

func (e *UpcastError) Error() string {
	return fmt.Sprintf("eventstore: upcast aggregate %q version %d event %d (%v): %v",
		e.AggregateID, e.Version, e.Event, upcastKey{e.Type, e.SchemaVersion}, e.Err)
}

// Is reports whether target is ErrUpcastFailed.
func (e *UpcastError) Is(target error) bool { return target == ErrUpcastFailed }

// Unwrap returns the upcaster's error.
func (e *UpcastError) Unwrap() error { return e.Err }

// RetryableError reports false: an upcaster is a function of the stored
// event, so reading again fails again, whatever Err is. (The AWS SDK's
// retry classification, which a live Tail follows, asks errors this.)
func (e *UpcastError) RetryableError() bool { return false }

// upcast turns each event of c that an upcaster applies to into its
// current form, in place; c's events are the read's own. It is the one
// place upcasting happens: decodePage calls it on every commit a read
// yields.
func (s *Store) upcast(c *Commit) error {
	if len(s.cfg.upcasters) == 0 {
		return nil
	}
	for i := range c.Events {
		e, err := s.cfg.upcasters.apply(s.cfg.SchemaVersionKey, c.Events[i])
		if err != nil {
			err.AggregateID, err.Version, err.Event = c.AggregateID, c.Version, i
			return err
		}
		c.Events[i] = e
	}
	return nil
}

// apply runs the chain of upcasters that starts at e's type and version.
// New checked that every chain ends; the bound is a second guard.
func (m upcasters) apply(key string, e Event) (Event, *UpcastError) {
	for range len(m) + 1 {
		k := upcastKey{e.Type, e.Metadata[key]}
		u, ok := m[k]
		if !ok {
			return e, nil
		}
		next, err := u.run(e)
		if err == nil {
			err = validateData(next.Data)
		}
		if err == nil {
			err = validateMetadata(next.Metadata, true)
		}
		if err != nil {
			return Event{}, &UpcastError{Type: k.typ, SchemaVersion: k.version, Err: err}
		}
		to := u.to()
		next.Type = to.typ
		next.Metadata = maps.Clone(next.Metadata)
		switch {
		case to.version != "":
			if next.Metadata == nil {
				next.Metadata = map[string]string{}
			}
			next.Metadata[key] = to.version
		case len(next.Metadata) > 0:
			delete(next.Metadata, key)
			if len(next.Metadata) == 0 {
				next.Metadata = nil // as an event without metadata reads
			}
		}
		e = next
	}
	return Event{}, &UpcastError{Type: e.Type, SchemaVersion: e.Metadata[key], Err: errUpcasterLoop}
}

// run calls Upcast with e, its Data clipped so that an append copies it,
// and turns a panic into an error: Scan upcasts in its shard readers'
// goroutines, where a panic would end the program.
func (u *Upcaster) run(e Event) (next Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("upcaster panicked: %v", r)
		}
	}()
	e.Data = slices.Clip(e.Data)
	return u.Upcast(e)
}
