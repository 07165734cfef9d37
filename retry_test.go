package eventstore_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/internal/faults"
)

// withTransport makes a client send its requests through rt.
func withTransport(rt http.RoundTripper) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: rt}
	}
}

// The first PutItem reaches the server and its response is lost; the SDK
// retries, finds the key taken by this very commit, and Append succeeds.
func TestAppendRetryAfterLostResponseIsIdempotent(t *testing.T) {
	t.Parallel()
	ft := &faults.Transport{Decide: faults.Once("PutItem", faults.LoseResponse)}
	s, client, table := newStore(t, eventstore.Config{}, withTransport(ft))
	stored, err := s.Append(ctxT(t), commit("acct", 0))
	if err != nil {
		t.Fatalf("Append after a lost response: %v", err)
	}
	if got := ft.Counts()[faults.LoseResponse]; got != 1 {
		t.Fatalf("injected %d lost responses, want 1", got)
	}
	if n := countItems(t, client, table); n != 1 {
		t.Fatalf("table holds %d items, want 1", n)
	}
	got := collect(t, s.Query(ctxT(t), "acct", 0))
	if len(got) != 1 || got[0].CommitID != stored.CommitID {
		t.Fatalf("Query = %+v, want the one stored commit %s", got, stored.CommitID)
	}

	// The caller's own retry of the same commit also succeeds, writing nothing.
	if _, err := s.Append(ctxT(t), stored); err != nil {
		t.Fatalf("Append of the same commit again: %v", err)
	}
	// A different commit at the same version still conflicts.
	_, err = s.Append(ctxT(t), commit("acct", 0))
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || conflict.CommitID != stored.CommitID {
		t.Fatalf("Append of another commit at version 0: %v, want a conflict naming %s", err, stored.CommitID)
	}
	var ccf interface{ ErrorCode() string }
	if !errors.As(err, &ccf) || ccf.ErrorCode() != "ConditionalCheckFailedException" {
		t.Errorf("conflict does not unwrap to the AWS error: %v", err)
	}
	if n := countItems(t, client, table); n != 1 {
		t.Fatalf("table holds %d items, want 1", n)
	}
}
