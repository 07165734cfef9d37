package eventstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// firstErr returns the first error a sequence yields, or nil; it stops at
// the first error, or when ctx ends (a Tail without error).
func firstErr[T any](seq iter.Seq2[T, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// tableOps runs every operation of the store once, each returning the
// error it ended with.
func tableOps() []struct {
	name string
	run  func(ctx context.Context, s *eventstore.Store) error
} {
	id := ulid.Make().String()
	old := ulid.MustNew(ulid.Timestamp(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), rand.Reader).String()
	return []struct {
		name string
		run  func(ctx context.Context, s *eventstore.Store) error
	}{
		{"Append", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.Append(ctx, commit("a", 0))
			return err
		}},
		{"Append at version 3", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.Append(ctx, commit("a", 3))
			return err
		}},
		{"AppendAll", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.AppendAll(ctx, commit("a", 0), commit("b", 0))
			return err
		}},
		{"AppendNew", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.AppendNew(ctx, commit("a", 0))
			return err
		}},
		{"AppendNext", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.AppendNext(ctx, commit("a", 0))
			return err
		}},
		{"Update", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.Update(ctx, "a", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
				return []eventstore.Event{event("happened", 1)}, nil
			})
			return err
		}},
		{"Import", func(ctx context.Context, s *eventstore.Store) error {
			c := commit("a", 0)
			c.CommitID = id
			_, err := s.Import(ctx, c)
			return err
		}},
		{"Query", func(ctx context.Context, s *eventstore.Store) error { return firstErr(s.Query(ctx, "a", 0)) }},
		{"LatestVersion", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.LatestVersion(ctx, "a")
			return err
		}},
		{"Exists", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.Exists(ctx, "a")
			return err
		}},
		{"Scan", func(ctx context.Context, s *eventstore.Store) error { return firstErr(s.Scan(ctx, "")) }},
		{"Scan without settle", func(ctx context.Context, s *eventstore.Store) error {
			return firstErr(s.Scan(ctx, "", eventstore.WithSettle(0)))
		}},
		{"Tail", func(ctx context.Context, s *eventstore.Store) error { return firstErr(s.Tail(ctx, "")) }},
		{"Tail live", func(ctx context.Context, s *eventstore.Store) error {
			return firstErr(s.Tail(ctx, "", eventstore.Live()))
		}},
		{"Aggregates", func(ctx context.Context, s *eventstore.Store) error { return firstErr(s.Aggregates(ctx)) }},
		{"Orphaned", func(ctx context.Context, s *eventstore.Store) error {
			_, err := s.Orphaned(ctx, "h/0/"+old)
			return err
		}},
	}
}

// TestMissingTable: every operation on a table never created fails at
// once with ErrTableNotFound, naming the table and how to create it, and
// never with ErrOutcomeUnknown: nothing was written.
func TestMissingTable(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := "never-created-" + strings.ToLower(ulid.Make().String())
	s, err := eventstore.New(client, eventstore.Config{Table: table, AggregatesIndex: eventstore.DefaultAggregatesIndex})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range tableOps() {
		t.Run(op.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := op.run(ctx, s)
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if !errors.Is(err, eventstore.ErrTableNotFound) {
				t.Fatalf("error %v, want ErrTableNotFound", err)
			}
			if errors.Is(err, eventstore.ErrOutcomeUnknown) {
				t.Errorf("error %v matches ErrOutcomeUnknown; nothing was written", err)
			}
			var missing *types.ResourceNotFoundException
			if !errors.As(err, &missing) {
				t.Errorf("error %v does not unwrap to the ResourceNotFoundException", err)
			}
			for _, want := range []string{table, "CreateTable"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestWrongTable: a table of another key schema is ErrTableMismatch, not
// an unknown outcome, for every operation.
func TestWrongTable(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	_, err := client.CreateTable(ctxT(t), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.New(client, eventstore.Config{Table: table, AggregatesIndex: eventstore.DefaultAggregatesIndex})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range tableOps() {
		t.Run(op.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := op.run(ctx, s)
			if !errors.Is(err, eventstore.ErrTableMismatch) || errors.Is(err, eventstore.ErrOutcomeUnknown) {
				t.Fatalf("error %v, want ErrTableMismatch, not ErrOutcomeUnknown", err)
			}
			if !strings.Contains(err.Error(), table) {
				t.Errorf("error %q does not name the table", err)
			}
		})
	}
}

// TestTableWithoutIndex: a table with the store's key but without its scan
// index is ErrTableMismatch for the reads of the global log.
func TestTableWithoutIndex(t *testing.T) {
	t.Parallel()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	_, err := client.CreateTable(ctxT(t), &dynamodb.CreateTableInput{
		TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("aggregateId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("version"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("aggregateId"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("version"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := eventstore.New(client, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []struct {
		name string
		seq  func(ctx context.Context) iter.Seq2[eventstore.Commit, error]
	}{
		{"Scan", func(ctx context.Context) iter.Seq2[eventstore.Commit, error] { return s.Scan(ctx, "") }},
		{"Tail", func(ctx context.Context) iter.Seq2[eventstore.Commit, error] { return s.Tail(ctx, "") }},
		{"Tail live", func(ctx context.Context) iter.Seq2[eventstore.Commit, error] {
			return s.Tail(ctx, "", eventstore.Live())
		}},
	} {
		t.Run(op.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := firstErr(op.seq(ctx))
			if !errors.Is(err, eventstore.ErrTableMismatch) || !strings.Contains(err.Error(), table) {
				t.Fatalf("error %v, want ErrTableMismatch naming table %s", err, table)
			}
		})
	}
}

// TestDeletedTable: a table deleted under a store that has checked it
// already fails its writes with ErrTableNotFound at the put or the
// transaction, not with ErrOutcomeUnknown.
func TestDeletedTable(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	if _, err := client.DeleteTable(ctxT(t), &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}
	for _, op := range tableOps()[:6] { // the writes
		t.Run(op.name, func(t *testing.T) {
			err := op.run(ctxT(t), s)
			if !errors.Is(err, eventstore.ErrTableNotFound) || errors.Is(err, eventstore.ErrOutcomeUnknown) {
				t.Fatalf("error %v, want ErrTableNotFound, not ErrOutcomeUnknown", err)
			}
		})
	}
}

// TestUpdateStopsOnMissingTable: a table deleted between Update's load and
// its append ends Update at the first attempt with ErrTableNotFound: no
// retry can store the commit.
func TestUpdateStopsOnMissingTable(t *testing.T) {
	t.Parallel()
	_, client, table := newStore(t, eventstore.Config{})
	var seen observations
	s := storeOn(t, client, table, eventstore.Config{Observer: &seen})
	_, err := s.Update(ctxT(t), "a", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		_, err := client.DeleteTable(ctxT(t), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		return []eventstore.Event{event("happened", 1)}, err
	})
	if !errors.Is(err, eventstore.ErrTableNotFound) || errors.Is(err, eventstore.ErrOutcomeUnknown) {
		t.Fatalf("Update: %v, want ErrTableNotFound", err)
	}
	if appends := seen.take(eventstore.OpAppend); len(appends) != 1 {
		t.Errorf("Update made %d appends, want 1", len(appends))
	}
}
