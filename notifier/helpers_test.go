package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	dynamotest.Stop()
	snstest.Stop()
	os.Exit(code)
}

// Short windows so that tails yield within a few seconds: a commit lands
// within testMaxLatency of its CommitID's time, and Tail yields it once it
// is testSettle old, the shortest window the table's recorded deadline
// allows.
const (
	testMaxLatency = time.Second
	testSettle     = testMaxLatency + eventstore.SettleAllowance
)

// newStore returns a store on a fresh table, with notifier n (nil: none),
// and its client and table name.
func newStore(tb testing.TB, n eventstore.Notifier) (*eventstore.Store, *dynamodb.Client, string) {
	tb.Helper()
	client := dynamotest.Client(tb)
	cfg := eventstore.Config{
		Table:            dynamotest.TableName(tb, client),
		Notifier:         n,
		MaxCommitLatency: testMaxLatency,
		Settle:           testSettle,
	}
	store, _ := dynamotest.NewStore(tb, cfg)
	return store, client, cfg.Table
}

// newSNS returns a notifier of topic, on the test server.
func newSNS(tb testing.TB, topic string, cfg notifier.SNSConfig, optFns ...func(*sns.Options)) *notifier.SNS {
	tb.Helper()
	cfg.TopicARN = topic
	n, err := notifier.NewSNS(snstest.SNSClient(tb, optFns...), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ctxT is a context bounded so that a hung request fails the test.
func ctxT(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func event(typ string, n int) eventstore.Event {
	return eventstore.Event{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func commit(aggregateID string, version int64, events ...eventstore.Event) eventstore.Commit {
	if len(events) == 0 {
		events = []eventstore.Event{event("happened", int(version))}
	}
	return eventstore.Commit{AggregateID: aggregateID, Version: version, Events: events}
}

// appendNew appends a new commit; when it misses its writer deadline (a
// loaded test machine), it is not stored, and appendNew tries again with a
// new CommitID, as a caller would.
func appendNew(tb testing.TB, s *eventstore.Store, c eventstore.Commit) (eventstore.Commit, error) {
	tb.Helper()
	for {
		stored, err := s.Append(ctxT(tb), c)
		if !errors.Is(err, eventstore.ErrCommitDeadline) {
			return stored, err
		}
		tb.Logf("Append(%s v%d): %v; again with a new CommitID", c.AggregateID, c.Version, err)
	}
}

func mustAppend(tb testing.TB, s *eventstore.Store, c eventstore.Commit) eventstore.Commit {
	tb.Helper()
	if c.CommitID != "" { // a retry of a stored commit
		stored, err := s.Append(ctxT(tb), c)
		if err != nil {
			tb.Fatalf("Append(%s v%d): %v", c.AggregateID, c.Version, err)
		}
		return stored
	}
	stored, err := appendNew(tb, s, c)
	if err != nil {
		tb.Fatalf("Append(%s v%d): %v", c.AggregateID, c.Version, err)
	}
	return stored
}

// appendMany appends versions 0..perAggregate-1 of aggregates a0..a(n-1),
// interleaved, and returns the stored commits in the order appended.
func appendMany(tb testing.TB, s *eventstore.Store, prefix string, aggregates, perAggregate int) []eventstore.Commit {
	tb.Helper()
	var out []eventstore.Commit
	for v := range perAggregate {
		for a := range aggregates {
			out = append(out, mustAppend(tb, s, commit(fmt.Sprintf("%s%d", prefix, a), int64(v))))
		}
	}
	return out
}

// decodeAll decodes message bodies, failing the test on an error.
func decodeAll(tb testing.TB, msgs []snstest.Message) []notifier.Envelope {
	tb.Helper()
	out := make([]notifier.Envelope, len(msgs))
	for i, m := range msgs {
		env, err := notifier.Decode([]byte(m.Body))
		if err != nil {
			tb.Fatalf("message %d: %v\n%s", i, err, m.Body)
		}
		out[i] = env
	}
	return out
}

// countByCommit counts the envelopes of each CommitID.
func countByCommit(envs []notifier.Envelope) map[string]int {
	n := map[string]int{}
	for _, e := range envs {
		n[e.CommitID]++
	}
	return n
}

// checkPerAggregateOrder fails the test unless each aggregate's versions
// appear in increasing order in seq (repeats of the latest allowed when
// dups is true).
func checkPerAggregateOrder(tb testing.TB, what string, seq []notifier.Envelope, dups bool) {
	tb.Helper()
	last := map[string]int64{}
	for _, e := range seq {
		prev, seen := last[e.AggregateID]
		if seen && (e.Version < prev || (e.Version == prev && !dups)) {
			tb.Fatalf("%s: %s version %d after version %d", what, e.AggregateID, e.Version, prev)
		}
		last[e.AggregateID] = e.Version
	}
}

// recorder wraps a BatchNotifier and records what it published, batch by
// batch. after, if set, runs after each successful batch.
type recorder struct {
	inner   notifier.BatchNotifier
	after   func(batches int)
	mu      sync.Mutex
	batches [][]eventstore.Commit
	fail    int // fail the next fail calls without publishing
	calls   int
}

func (r *recorder) Notify(ctx context.Context, c eventstore.Commit) error {
	return r.NotifyBatch(ctx, []eventstore.Commit{c})
}

func (r *recorder) NotifyBatch(ctx context.Context, cs []eventstore.Commit) error {
	r.mu.Lock()
	r.calls++
	if r.fail > 0 {
		r.fail--
		r.mu.Unlock()
		return fmt.Errorf("injected publish failure")
	}
	r.mu.Unlock()
	if err := r.inner.NotifyBatch(ctx, cs); err != nil {
		return err
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(cs))
	n := len(r.batches)
	r.mu.Unlock()
	if r.after != nil {
		r.after(n)
	}
	return nil
}

// published returns every commit published so far, in order.
func (r *recorder) published() []eventstore.Commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []eventstore.Commit
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

func envelopes(cs []eventstore.Commit) []notifier.Envelope {
	out := make([]notifier.Envelope, len(cs))
	for i, c := range cs {
		out[i] = notifier.NewEnvelope(c)
	}
	return out
}
