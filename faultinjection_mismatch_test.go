package eventstore_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// Changed-content retries under faults (issue 12): each commit is appended
// until its outcome is known, then "retried" with other events under the
// same CommitID, again until known. The changed retry must never report
// success or a conflict, and the stored commit, offloaded ones included,
// must read back intact afterwards.
func TestFaultInjectionChangedContentRetries(t *testing.T) {
	t.Parallel()
	var on atomic.Bool
	rate := faults.Rate(20261201, fiRate, nil)
	ft := &faults.Transport{Decide: func(op string) faults.Kind {
		if !on.Load() {
			return faults.None
		}
		return rate(op)
	}, Delay: 2 * fiTimeout}
	s3client, bucket := s3test.Bucket(t)
	blobs, err := s3offload.New(s3client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	s, client, table := newStore(t, eventstore.Config{Offload: blobs}, withHTTPClient(&http.Client{Transport: ft, Timeout: fiTimeout}), fastRetries)
	on.Store(true)
	const n = 40
	var stored []eventstore.Commit
	for i := range n {
		c := commit(fmt.Sprintf("chg-%02d", i), 0)
		if i%5 == 0 { // offloaded
			c = bigCommit(c.AggregateID, 0, 400<<10)
		}
		got, err := s.Append(ctxT(t), c)
		for tries := 0; errors.Is(err, eventstore.ErrOutcomeUnknown) && tries < 100; tries++ {
			got, err = s.Append(ctxT(t), got)
		}
		if errors.Is(err, eventstore.ErrCommitDeadline) {
			continue // not stored: nothing to change
		}
		if err != nil {
			t.Fatalf("append %s: %v", c.AggregateID, err)
		}
		stored = append(stored, got)
		changed := got
		changed.Events = []eventstore.Event{event("changed", i)}
		if i%5 == 0 {
			changed.Events = bigCommit(c.AggregateID, 0, 400<<10).Events
		}
		_, err = s.Append(ctxT(t), changed)
		for tries := 0; errors.Is(err, eventstore.ErrOutcomeUnknown) && tries < 100; tries++ {
			_, err = s.Append(ctxT(t), changed)
		}
		if !errors.Is(err, eventstore.ErrCommitMismatch) {
			t.Errorf("changed retry of %s: %v, want a *CommitMismatchError", c.AggregateID, err)
		}
	}
	if len(stored) < n/2 {
		t.Fatalf("only %d of %d commits stored", len(stored), n)
	}
	clean := storeOn(t, client, table, eventstore.Config{Offload: blobs})
	for _, want := range stored {
		got := collect(t, clean.Query(ctxT(t), want.AggregateID, 0))
		if len(got) != 1 || !sameCommit(got[0], want) {
			t.Errorf("%s does not read back as first stored", want.AggregateID)
		}
	}
	t.Logf("%d commits, each retried with changed content; %s", len(stored), ft.Stats())
}
