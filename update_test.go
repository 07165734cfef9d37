package eventstore_test

import (
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/faults"
)

// count folds a history into its number of events.
func count(history iter.Seq2[eventstore.Commit, error]) (int, error) {
	return eventstore.Fold(history, 0, func(n int, _ eventstore.EventView) (int, error) { return n + 1, nil })
}

func TestUpdateAppendsAtTheNextVersion(t *testing.T) {
	store, _, _ := importStore(t)
	ctx := importCtx(t)
	for want := range int64(3) {
		c, err := store.Update(ctx, "counter#1", func(h iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
			n, err := count(h)
			data, _ := json.Marshal(n)
			return []eventstore.Event{{Type: "counted", Data: data}}, err
		})
		if err != nil || c.Version != want || string(c.Events[0].Data) != string(rune('0'+want)) {
			t.Fatalf("Update %d = version %d data %s, %v", want, c.Version, c.Events[0].Data, err)
		}
	}
	refused := errors.New("refused")
	if _, err := store.Update(ctx, "counter#1", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		return nil, refused
	}); err != refused {
		t.Errorf("Update whose decide refuses: %v, want decide's error", err)
	}
	if c, err := store.Update(ctx, "counter#1", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		return nil, nil
	}); err != nil || c.CommitID != "" {
		t.Errorf("Update with nothing to append = %+v, %v; want a zero Commit", c, err)
	}
	if _, err := store.Update(ctx, "counter#1", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		return []eventstore.Event{{Type: ""}}, nil
	}); err == nil {
		t.Error("Update of an invalid event succeeded")
	}
}

// TestUpdateBoundsConflictRetries: a rival that always takes the next
// version first makes Update reload, decide again, and give up after
// Config.AppendNextAttempts with the conflict.
func TestUpdateBoundsConflictRetries(t *testing.T) {
	table := dynamotest.TableName(t, dynamotest.Client(t))
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table, AppendNextAttempts: 3})
	ctx := importCtx(t)
	calls := 0
	_, err := store.Update(ctx, "contended#1", func(h iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		n, err := count(h)
		if err != nil {
			return nil, err
		}
		calls++
		if _, err := store.Append(ctx, eventstore.Commit{AggregateID: "contended#1", Version: int64(n),
			Events: []eventstore.Event{{Type: "rival"}}}); err != nil {
			t.Fatal(err)
		}
		return []eventstore.Event{{Type: "mine"}}, nil
	})
	var conflict *eventstore.VersionConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, eventstore.ErrVersionConflict) || calls != 3 {
		t.Errorf("Update against a rival: %v after %d decisions, want a conflict after 3", err, calls)
	}
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("Update's give-up error %q does not say how many attempts it made", err)
	}
}

// TestUpdateRetriesUnknownOutcomeWithSameCommit: the response of the first
// PutItem is lost (the SDK does not retry here), so Append's outcome is
// unknown; Update retries the same commit, which finds itself stored,
// without deciding again or writing twice.
func TestUpdateRetriesUnknownOutcomeWithSameCommit(t *testing.T) {
	var armed atomic.Bool
	once := faults.Once("PutItem", faults.LoseResponse)
	ft := &faults.Transport{Decide: func(op string) faults.Kind {
		if !armed.Load() {
			return faults.None
		}
		return once(op)
	}}
	var puts []string
	ft.Observe = func(req *http.Request, _ faults.Kind) {
		if faults.Op(req) == "PutItem" && armed.Load() {
			puts = append(puts, faults.Op(req))
		}
	}
	table := dynamotest.TableName(t, dynamotest.Client(t))
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table}, func(o *dynamodb.Options) {
		o.HTTPClient = &http.Client{Transport: ft}
		o.RetryMaxAttempts = 1
	})
	ctx := importCtx(t)
	armed.Store(true)
	calls := 0
	c, err := store.Update(ctx, "unknown#1", func(h iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		calls++
		return []eventstore.Event{{Type: "once"}}, nil
	})
	if err != nil || calls != 1 || len(puts) != 2 {
		t.Fatalf("Update = %v after %d decisions and %d PutItems; want success after 1 and 2", err, calls, len(puts))
	}
	var stored []eventstore.Commit
	for c, err := range store.Query(ctx, "unknown#1", 0) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, c)
	}
	if len(stored) != 1 || stored[0].CommitID != c.CommitID {
		t.Errorf("stored %+v, want the one commit %s", stored, c.CommitID)
	}
}
