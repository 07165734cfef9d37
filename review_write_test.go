package eventstore_test

// Tests of the write-side defects a code review confirmed (issue 26):
// store-assigned CommitIDs re-sent after a new decision, CommitIDs at the
// edge of the ULID range, a writer deadline finer than the table records
// it, and readers that must not write.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// aheadID is a CommitID at the real time plus d, as a writer whose clock
// is ahead by d (within the allowed skew) would make it.
func aheadID(d time.Duration) string {
	return ulid.MustNew(ulid.Timestamp(time.Now().Add(d)), rand.Reader).String()
}

// noPanic runs f and turns a panic into a test error (and a non-nil error).
func noPanic(t *testing.T, what string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func decideOne(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
	return []eventstore.Event{event("decided", 1)}, nil
}

// Version 0's CommitID is 500 ms ahead of this writer's clock (its writer's
// clock was ahead, within the allowed skew): Update, from a cold and from a
// warm store, still appends version 1, with a greater CommitID, as a plain
// Append does.
func TestUpdateWhenThePredecessorIsAhead(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	for _, warm := range []bool{false, true} {
		agg := fmt.Sprintf("update-ahead#%v", warm)
		v0 := commit(agg, 0)
		v0.CommitID = aheadID(500 * time.Millisecond)
		v0 = mustAppend(t, s, v0)
		writer := storeOn(t, client, table, eventstore.Config{})
		if warm {
			collect(t, writer.Query(ctxT(t), agg, 0))
		}
		c, err := writer.Update(ctxT(t), agg, decideOne)
		if err != nil || c.Version != 1 || c.CommitID <= v0.CommitID {
			t.Errorf("warm %v: Update = v%d %s, %v; want version 1 after %s", warm, c.Version, c.CommitID, err, v0.CommitID)
		}
	}
}

// An AppendNext that gave up after conflicts (another writer, clock ahead,
// took each version first) and is retried with the Commit it returned
// appends at the next free version: the CommitID the store assigned is
// the store's to replace.
func TestAppendNextRetriedAfterConflictsMovesOn(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	other := storeOn(t, client, table, eventstore.Config{})
	must(t, other.CreateTable(ctxT(t)))
	var takes atomic.Int32
	takes.Store(2)
	hook := &hookClient{DynamoDBAPI: client, put: func(ctx context.Context, in *dynamodb.PutItemInput, send func() (*dynamodb.PutItemOutput, error)) (*dynamodb.PutItemOutput, error) {
		agg, _ := in.Item["aggregateId"].(*types.AttributeValueMemberS)
		if agg != nil && agg.Value == "next" && takes.Add(-1) >= 0 {
			v, _ := strconv.ParseInt(in.Item["version"].(*types.AttributeValueMemberN).Value, 10, 64)
			first := commit("next", v)
			first.CommitID = aheadID(time.Duration(500+100*v) * time.Millisecond)
			mustAppend(t, other, first)
		}
		return send()
	}}
	s := storeOn(t, hook, table, eventstore.Config{AppendNextAttempts: 2})
	c, err := s.AppendNext(ctxT(t), commit("next", 0))
	if !errors.Is(err, eventstore.ErrVersionConflict) {
		t.Fatalf("AppendNext against a faster writer: %v, want a conflict", err)
	}
	c, err = s.AppendNext(ctxT(t), c)
	if err != nil || c.Version != 2 {
		t.Fatalf("AppendNext retried with its returned Commit: v%d, %v; want version 2", c.Version, err)
	}
	stored := collect(t, s.Query(ctxT(t), "next", 0))
	if len(stored) != 3 || stored[2].CommitID != c.CommitID || c.CommitID <= stored[1].CommitID {
		t.Errorf("stored %d commits, last %s; want 3, the last %s > %s", len(stored), stored[len(stored)-1].CommitID, c.CommitID, stored[1].CommitID)
	}
}

// failGets fails the first n GetItem calls as a lost connection would.
type failGets struct {
	eventstore.DynamoDBAPI
	n atomic.Int32
}

func (f *failGets) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if f.n.Add(-1) >= 0 {
		return nil, errors.New("connection reset")
	}
	return f.DynamoDBAPI.GetItem(ctx, in, optFns...)
}

// Append and AppendAll fail (outcome unknown) reading a predecessor whose
// CommitID is ahead of the writer's clock, before they could give their
// commit a greater one; the retry with the returned commits stores them.
func TestRetryAfterAFailedPredecessorRead(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	for _, all := range []bool{false, true} {
		agg := fmt.Sprintf("retry-read#%v", all)
		v0 := commit(agg, 0)
		v0.CommitID = aheadID(500 * time.Millisecond)
		mustAppend(t, s, v0)
		flaky := &failGets{DynamoDBAPI: client}
		flaky.n.Store(1)
		cold := storeOn(t, flaky, table, eventstore.Config{})
		send := func(commits []eventstore.Commit) ([]eventstore.Commit, error) {
			if !all {
				c, err := cold.Append(ctxT(t), commits[0])
				return []eventstore.Commit{c}, err
			}
			return cold.AppendAll(ctxT(t), commits...)
		}
		out, err := send([]eventstore.Commit{commit(agg, 1), commit(agg+"/other", 0)})
		if !errors.Is(err, eventstore.ErrOutcomeUnknown) {
			t.Fatalf("all %v: first attempt: %v, want an unknown outcome", all, err)
		}
		if out, err = send(out); err != nil || out[0].CommitID <= v0.CommitID {
			t.Errorf("all %v: retry with the returned commits: %s, %v; want stored after %s", all, out[0].CommitID, err, v0.CommitID)
		}
	}
}

// A caller-set CommitID more than Config.MaxCommitLatency ahead of the
// store's clock is refused before any request, by every write; one a
// second ahead is fine.
func TestFarFutureCommitIDRefused(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	const maxID = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	writes := map[string]func(c eventstore.Commit) error{
		"Append":     func(c eventstore.Commit) error { _, err := s.Append(ctxT(t), c); return err },
		"AppendNew":  func(c eventstore.Commit) error { _, err := s.AppendNew(ctxT(t), c); return err },
		"AppendNext": func(c eventstore.Commit) error { _, err := s.AppendNext(ctxT(t), c); return err },
		"AppendAll":  func(c eventstore.Commit) error { _, err := s.AppendAll(ctxT(t), c, commit("far/other", 0)); return err },
		"Import":     func(c eventstore.Commit) error { _, err := s.Import(ctxT(t), c); return err },
	}
	for name, write := range writes {
		ids := []string{aheadID(time.Hour), maxID}
		if name != "Import" { // Import takes canonical ids only
			ids = append(ids, strings.ToLower(maxID))
		}
		for _, id := range ids {
			c := commit("far#"+name, 0)
			c.CommitID = id
			err := noPanic(t, name, func() error { return write(c) })
			if !errors.Is(err, eventstore.ErrInvalidCommit) || !strings.Contains(err.Error(), "ahead") {
				t.Errorf("%s with commit id %s: %v, want ErrInvalidCommit (too far ahead)", name, id, err)
			}
		}
	}
	if n := countItems(t, client, table); n != 0 {
		t.Errorf("%d commits stored, want none", n)
	}
	c := commit("near", 0)
	c.CommitID = aheadID(time.Second)
	mustAppend(t, s, c)
}

// putAtMaxTime stores version 0 of agg raw, with the largest CommitID.
func putAtMaxTime(t *testing.T, s *eventstore.Store, client *dynamodb.Client, table, agg string) {
	t.Helper()
	mustAppend(t, s, commit(agg, 0))
	item := rawItem(t, client, table, agg, 0)
	item["commitId"] = &types.AttributeValueMemberS{Value: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"}
	item["committedAt"] = &types.AttributeValueMemberN{Value: strconv.FormatUint(ulid.MaxTime(), 10)}
	putRaw(t, client, table, item)
}

// A stored predecessor at the largest ULID time leaves no CommitID for the
// next version: every write says so with ErrInvalidCommit, from a cold
// store and from a warm one, and none panics.
func TestPredecessorAtTheLargestTime(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	putAtMaxTime(t, s, client, table, "max")
	writes := []struct {
		name  string
		write func(s *eventstore.Store) error
	}{
		{"Append", func(s *eventstore.Store) error { _, err := s.Append(ctxT(t), commit("max", 1)); return err }},
		{"AppendAll", func(s *eventstore.Store) error {
			_, err := s.AppendAll(ctxT(t), commit("max", 1), commit("max/other", 0))
			return err
		}},
		{"AppendNext", func(s *eventstore.Store) error { _, err := s.AppendNext(ctxT(t), commit("max", 0)); return err }},
		{"Update", func(s *eventstore.Store) error { _, err := s.Update(ctxT(t), "max", decideOne); return err }},
	}
	for _, w := range writes {
		for _, warm := range []bool{false, true} {
			st := storeOn(t, client, table, eventstore.Config{})
			if warm {
				collect(t, st.Query(ctxT(t), "max", 0))
			}
			err := noPanic(t, w.name, func() error { return w.write(st) })
			if !errors.Is(err, eventstore.ErrInvalidCommit) || !strings.Contains(err.Error(), "largest") {
				t.Errorf("%s (warm %v) after a commit at the largest time: %v, want ErrInvalidCommit", w.name, warm, err)
			}
		}
	}
	if n := countItems(t, client, table); n != 1 {
		t.Errorf("%d commits stored, want only the one at the largest time", n)
	}
}

// A clock past the ULID range (after the year 10889, or before 1970)
// gives an error, not a panic.
func TestClockOutsideTheULIDRange(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	for _, at := range []time.Time{time.Date(10900, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(-1000, 0)} {
		s, err := eventstore.New(client, eventstore.WithClock(eventstore.Config{Table: table}, func() time.Time { return at }))
		must(t, err)
		err = noPanic(t, "Append", func() error { _, err := s.Append(ctxT(t), commit("clock", 0)); return err })
		if !errors.Is(err, eventstore.ErrInvalidCommit) || !strings.Contains(err.Error(), "clock") {
			t.Errorf("Append with the clock at %v: %v, want ErrInvalidCommit naming the clock", at, err)
		}
	}
}

// The table records the writer deadline in milliseconds, so New refuses a
// MaxCommitLatency that is not a whole number of them, beside every other
// problem; stores with the same whole-millisecond deadline agree.
func TestMaxCommitLatencyInWholeMilliseconds(t *testing.T) {
	t.Parallel()
	_, err := eventstore.New(dynamotest.Client(t), eventstore.Config{Table: "abc", MaxCommitLatency: 3333333333, ScanShards: -1})
	if err == nil || !strings.Contains(err.Error(), "MaxCommitLatency") || !strings.Contains(err.Error(), "ScanShards") {
		t.Errorf("New with MaxCommitLatency 3.333333333s and ScanShards -1: %v, want both refused", err)
	}
	cfg := eventstore.Config{MaxCommitLatency: 3333 * time.Millisecond}
	first, client, table := newStore(t, cfg)
	second := storeOn(t, client, table, cfg)
	mustAppend(t, first, commit("ms", 0))
	mustAppend(t, second, commit("ms", 1))
	for _, s := range []*eventstore.Store{first, second} {
		for _, err := range s.Scan(ctxT(t), "") {
			must(t, err)
		}
	}
}

var writeOps = []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

// On a table whose metadata item lacks the writer deadline (made by an
// older version), Scan, Tail and Aggregates send no write: the upgrade is
// the writers'. They assume their own deadline until a writer records
// one, and then follow the recorded one.
func TestReadersDoNotUpgradeTheMetadata(t *testing.T) {
	t.Parallel()
	cfg := eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex}
	s, client, table := newStore(t, cfg)
	mustAppend(t, s, commit("old", 0))
	meta := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"},
		"version":     &types.AttributeValueMemberN{Value: "-1"},
	}
	if _, err := client.UpdateItem(ctxT(t), &dynamodb.UpdateItemInput{TableName: &table, Key: meta,
		UpdateExpression: aws.String("REMOVE maxCommitLatency")}); err != nil {
		t.Fatal(err)
	}
	var calls opLog
	reader := storeOn(t, dynamotest.Client(t, calls.option()), table, cfg)
	read := func() error {
		for _, err := range reader.Scan(ctxT(t), "") {
			if err != nil {
				return err
			}
		}
		tctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
		defer cancel()
		for _, err := range reader.Tail(tctx, "", eventstore.WithSettle(0)) {
			if err != nil && tctx.Err() == nil {
				return err
			}
			break
		}
		for _, err := range reader.Aggregates(ctxT(t)) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	for range 2 {
		must(t, read())
	}
	for _, c := range calls.take() {
		for _, w := range writeOps {
			if c.Op == w {
				t.Errorf("a reader sent %s", c.Op)
			}
		}
	}
	if item := rawItem(t, client, table, "$eventstore", -1); item["maxCommitLatency"] != nil {
		t.Errorf("the metadata item got maxCommitLatency %v from readers", item["maxCommitLatency"])
	}
	writer := storeOn(t, client, table, eventstore.Config{MaxCommitLatency: 6 * time.Second})
	mustAppend(t, writer, commit("old", 1))
	item := rawItem(t, client, table, "$eventstore", -1)
	if got, ok := item["maxCommitLatency"].(*types.AttributeValueMemberN); !ok || got.Value != "6000" {
		t.Fatalf("maxCommitLatency = %v, want 6000 (ms) recorded by the writer", item["maxCommitLatency"])
	}
	if err := read(); !errors.Is(err, eventstore.ErrSettleMismatch) {
		t.Errorf("a reader with a 10 s settle window on a table that now records 6 s: %v, want ErrSettleMismatch", err)
	}
}
