package eventstore_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/internal/faults"
)

// A caller-set CommitID (one the caller made, not one the store assigned,
// which the store may replace) reused at the next version of the same
// aggregate is refused before any request; reused on another aggregate, it is
// stored, and Scan and Tail yield both commits, ordered by AggregateID,
// without error; a checkpoint at that CommitID covers both.
func TestCommitIDReused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	ctx := ctxT(t)
	first := commit("b-agg", 0)
	first.CommitID = aheadID(0)
	first = mustAppend(t, s, first)
	again := commit("b-agg", 1)
	again.CommitID = first.CommitID
	_, err := s.Append(ctx, again)
	if !errors.Is(err, eventstore.ErrInvalidCommit) || !strings.Contains(err.Error(), first.CommitID) {
		t.Errorf("reuse on the same aggregate: err = %v, want ErrInvalidCommit naming %s", err, first.CommitID)
	}
	other := commit("a-agg", 0)
	other.CommitID = first.CommitID
	mustAppend(t, s, other)
	if n := countItems(t, client, table); n != 2 {
		t.Fatalf("the table holds %d commits, want 2", n)
	}
	reader, err := eventstore.New(client, eventstore.WithClock(eventstore.Config{Table: table}, func() time.Time { return time.Now().Add(time.Minute) }))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a-agg", "b-agg"}
	got := collect(t, reader.Scan(ctx, ""))
	tailCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var tailed []eventstore.Commit
	for c, err := range reader.Tail(tailCtx, "") {
		if err != nil {
			t.Fatalf("Tail: %v", err)
		}
		if tailed = append(tailed, c); len(tailed) == 2 {
			break
		}
	}
	for name, got := range map[string][]eventstore.Commit{"Scan": got, "Tail": tailed} {
		if len(got) != 2 || got[0].AggregateID != want[0] || got[1].AggregateID != want[1] {
			t.Errorf("%s yielded %v, want the two commits of %s ordered by AggregateID", name, got, first.CommitID)
		}
	}
	if after := collect(t, reader.Scan(ctx, first.CommitID)); len(after) != 0 {
		t.Errorf("Scan after the shared CommitID yielded %d commits, want none", len(after))
	}
}

// A reader whose settle window does not cover the deadline the table
// records plus SettleAllowance is refused at its first Scan and Tail,
// unless it asks for WithSettle(0); a writer with a longer deadline than
// recorded is refused and writes nothing.
func TestSettleRulesRecorded(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{MaxCommitLatency: 2 * time.Second})
	mustAppend(t, s, commit("r", 0)) // records 2 s
	ctx := ctxT(t)
	short, err := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: time.Second, Settle: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for name, seq := range map[string]func(func(eventstore.Commit, error) bool){
		"Scan": short.Scan(ctx, ""), "Tail": short.Tail(ctx, ""),
		"Scan WithSettle(6s)": short.Scan(ctx, "", eventstore.WithSettle(6*time.Second)),
	} {
		for _, err := range seq {
			if !errors.Is(err, eventstore.ErrSettleMismatch) || !strings.Contains(err.Error(), "7s") {
				t.Errorf("%s: err = %v, want ErrSettleMismatch naming 7s", name, err)
			}
			break
		}
	}
	if got := collect(t, short.Scan(ctx, "", eventstore.WithSettle(0))); len(got) != 1 {
		t.Errorf("WithSettle(0) yielded %d commits, want 1", len(got))
	}
	if got := collect(t, short.Scan(ctx, "", eventstore.WithSettle(7*time.Second))); len(got) != 0 {
		t.Errorf("WithSettle(7s) yielded %d fresh commits, want none", len(got))
	}
	if _, err := short.Append(ctx, commit("r", 1)); err != nil { // a shorter deadline is fine
		t.Errorf("a writer with a shorter deadline: %v", err)
	}
	long, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Append(ctx, commit("r", 2)); !errors.Is(err, eventstore.ErrSettleMismatch) {
		t.Errorf("a writer with a 5 s deadline on a 2 s table: err = %v, want ErrSettleMismatch", err)
	}
	if _, err := long.AppendAll(ctx, commit("r", 2), commit("q", 0)); !errors.Is(err, eventstore.ErrSettleMismatch) {
		t.Errorf("AppendAll with a 5 s deadline on a 2 s table: err = %v, want ErrSettleMismatch", err)
	}
	if n := countItems(t, client, table); n != 2 {
		t.Errorf("the table holds %d commits, want 2", n)
	}
}

// slowAnswer lets the first PutItem reach DynamoDB and holds its answer
// until the writer deadline ended the request: the commit is stored, but
// Append learns it only from the fence, after the deadline.
type slowAnswer struct{ on atomic.Bool }

func (a *slowAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if faults.Op(req) != "PutItem" || !a.on.Swap(false) {
		return resp, err
	}
	if err == nil {
		resp.Body.Close()
	}
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// A commit whose put was cut short by the deadline and that the fence then
// found stored is a success marked LandedLate, and the Observer counts a
// late landing; an on-time commit is not marked, nor a read.
func TestLateLandingObserved(t *testing.T) {
	t.Parallel()
	obs := &observations{}
	slow := &slowAnswer{}
	client := dynamotest.Client(t, withTransport(slow))
	table := dynamotest.TableName(t, dynamotest.Client(t))
	s, err := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: 500 * time.Millisecond, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, commit("warm-up", 0)) // records the table's metadata
	obs.take(eventstore.OpAppend)
	slow.on.Store(true)
	c, err := s.Append(ctxT(t), commit("late", 0))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if o := one(t, obs, eventstore.OpAppend); !c.LandedLate || o.LateLandings != 1 || o.Duplicates != 1 {
		t.Errorf("LandedLate %v, observation %+v; want a late landing found by the fence", c.LandedLate, o)
	}
	on := mustAppend(t, s, commit("late", 1))
	if o := one(t, obs, eventstore.OpAppend); on.LandedLate || o.LateLandings != 0 {
		t.Errorf("an on-time commit: LandedLate %v, LateLandings %d", on.LandedLate, o.LateLandings)
	}
	for got, err := range s.Query(ctxT(t), "late", 0) {
		if err != nil || got.LandedLate {
			t.Errorf("Query: LandedLate %v, %v", got.LandedLate, err)
		}
	}
}

// A metadata item written before the deadline was recorded gets the first
// store's deadline added, once: a later store with a longer one is refused.
func TestSettleRulesAddedToOldMetadata(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("m", 0))
	meta := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"},
		"version":     &types.AttributeValueMemberN{Value: "-1"},
	}
	if _, err := client.UpdateItem(ctxT(t), &dynamodb.UpdateItemInput{TableName: &table, Key: meta,
		UpdateExpression: aws.String("REMOVE maxCommitLatency")}); err != nil {
		t.Fatal(err)
	}
	short, _ := eventstore.New(client, eventstore.Config{Table: table, MaxCommitLatency: time.Second})
	mustAppend(t, short, commit("m", 1))
	item := rawItem(t, client, table, "$eventstore", -1)
	if got, ok := item["maxCommitLatency"].(*types.AttributeValueMemberN); !ok || got.Value != "1000" {
		t.Fatalf("maxCommitLatency = %v, want 1000 (ms) added by the first store", item["maxCommitLatency"])
	}
	long, _ := eventstore.New(client, eventstore.Config{Table: table})
	if _, err := long.Append(ctxT(t), commit("m", 2)); !errors.Is(err, eventstore.ErrSettleMismatch) {
		t.Errorf("Append with 5 s on a table that records 1 s: %v, want ErrSettleMismatch", err)
	}
}
