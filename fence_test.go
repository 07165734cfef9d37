package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

// lateApply holds every write until the client gives up on it, then lets it
// reach DynamoDB 300 ms later anyway: a request already on the wire when the
// writer deadline passed, applied by a busy server after Append settled.
type lateApply struct {
	op      string
	on      atomic.Bool
	applied chan struct{}
}

func (l *lateApply) RoundTrip(req *http.Request) (*http.Response, error) {
	if faults.Op(req) != l.op || !l.on.Load() {
		return http.DefaultTransport.RoundTrip(req)
	}
	body, _ := io.ReadAll(req.Body)
	<-req.Context().Done()
	go func() {
		defer close(l.applied)
		time.Sleep(300 * time.Millisecond)
		late, _ := http.NewRequestWithContext(context.Background(), req.Method, req.URL.String(), bytes.NewReader(body))
		late.Header = req.Header.Clone()
		if resp, err := http.DefaultTransport.RoundTrip(late); err == nil {
			resp.Body.Close()
		}
	}()
	return nil, req.Context().Err()
}

// ErrCommitDeadline promises that the commit is not stored and never will
// be, even when its attempt reaches DynamoDB after Append settled it; and a
// new commit at the version is then stored normally.
func TestCommitDeadlineMeansNeverStored(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"PutItem", "TransactWriteItems"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			la := &lateApply{op: op, applied: make(chan struct{})}
			s, client, table := newStore(t, eventstore.Config{MaxCommitLatency: 500 * time.Millisecond, Settle: 2 * time.Second},
				withTransport(la))
			la.on.Store(true)
			var err error
			var late eventstore.Commit
			if op == "PutItem" {
				late, err = s.Append(ctxT(t), commit("late", 0))
			} else {
				var all []eventstore.Commit
				all, err = s.AppendAll(ctxT(t), commit("late", 0), commit("other", 0))
				late = all[0]
			}
			if !errors.Is(err, eventstore.ErrCommitDeadline) {
				t.Fatalf("append: %v, want ErrCommitDeadline", err)
			}
			<-la.applied
			la.on.Store(false)
			if got := collect(t, s.Query(ctxT(t), "late", 0)); len(got) != 0 {
				t.Fatalf("ErrCommitDeadline, yet Query finds %d commits (%s)", len(got), late.CommitID)
			}
			if v, err := s.LatestVersion(ctxT(t), "late"); v != -1 || err != nil {
				t.Errorf("LatestVersion over a fence = %d, %v; want -1", v, err)
			}
			// A new commit takes the version; the refused one can still not.
			fresh := mustAppend(t, s, commit("late", 0))
			if _, err := s.Append(ctxT(t), late); !errors.Is(err, eventstore.ErrVersionConflict) {
				t.Errorf("the refused commit again: %v, want a conflict", err)
			}
			got := collect(t, s.Query(ctxT(t), "late", 0))
			if len(got) != 1 || got[0].CommitID != fresh.CommitID {
				t.Errorf("Query = %v, want the new commit", got)
			}
			if n := countItems(t, client, table); n != 1 {
				t.Errorf("%d commits stored, want 1", n)
			}
		})
	}
}
