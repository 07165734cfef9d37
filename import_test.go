package eventstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

func importCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// TestImportKeepsOldCommitIDs: Import stores history whose CommitIDs are far
// older than the writer deadline, which Append refuses, and a re-run writes
// nothing twice.
func TestImportKeepsOldCommitIDs(t *testing.T) {
	store, client, table := importStore(t)
	ctx := importCtx(t)
	old := ulid.MustNew(ulid.Timestamp(time.Now().Add(-24*time.Hour)), rand.Reader).String()
	c := eventstore.Commit{AggregateID: "history#1", Version: 0, CommitID: old,
		Events: []eventstore.Event{{Type: "opened", Data: []byte(`{"n":1}`)}}}
	appended := c
	appended.AggregateID = "history#appended"
	if _, err := store.Append(ctx, appended); !errors.Is(err, eventstore.ErrCommitDeadline) {
		t.Fatalf("Append of a day-old CommitID: %v, want ErrCommitDeadline", err)
	}
	for range 2 {
		got, err := store.Import(ctx, c)
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if got.CommitID != old || !got.CommittedAt.Equal(ulid.Time(ulid.MustParse(old).Time())) {
			t.Errorf("Import returned %s at %v, want %s at its time", got.CommitID, got.CommittedAt, old)
		}
	}
	var read []eventstore.Commit
	for c, err := range store.Scan(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		read = append(read, c)
	}
	if len(read) != 1 || read[0].CommitID != old || string(read[0].Events[0].Data) != `{"n":1}` {
		t.Errorf("Scan after two imports = %+v, want the one commit", read)
	}
	other := c
	other.CommitID = ulid.Make().String()
	var conflict *eventstore.VersionConflictError
	if _, err := store.Import(ctx, other); !errors.As(err, &conflict) || conflict.CommitID != old {
		t.Errorf("Import of another commit at a held version: %v, want a conflict naming %s", err, old)
	}
	if _, err := store.Import(ctx, eventstore.Commit{AggregateID: "history#2", Events: c.Events}); err == nil {
		t.Error("Import without a CommitID succeeded")
	}
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Select: types.SelectCount})
	if err != nil || out.Count != 3 { // the commit, Append's fence and the table's metadata item
		t.Errorf("table holds %d items (%v), want 3", out.Count, err)
	}
}

// TestDecodeItem decodes every raw item of a table, telling commits from the
// metadata item and naming a corrupt item.
func TestDecodeItem(t *testing.T) {
	store, client, table := importStore(t)
	ctx := importCtx(t)
	stored, err := store.Append(ctx, eventstore.Commit{AggregateID: "decode#1",
		Events: []eventstore.Event{{Type: "x", Data: []byte(`[1,2]`)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "decode#2"},
		"version":     &types.AttributeValueMemberN{Value: "0"},
		"commitId":    &types.AttributeValueMemberS{Value: "not a ulid"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	var commits, meta, corrupt int
	for _, item := range out.Items {
		c, err := store.DecodeItem(ctx, item)
		switch {
		case err == nil && c.CommitID == stored.CommitID && string(c.Events[0].Data) == `[1,2]`:
			commits++
		case errors.Is(err, eventstore.ErrNotCommit):
			meta++
		case errors.Is(err, eventstore.ErrCorruptCommit):
			corrupt++
		default:
			t.Errorf("DecodeItem = %+v, %v", c, err)
		}
	}
	if commits != 1 || meta != 1 || corrupt != 1 {
		t.Errorf("decoded %d commits, %d metadata items, %d corrupt; want 1 each", commits, meta, corrupt)
	}
}

// importStore returns a store on a fresh table, its client and the table.
func importStore(t *testing.T) (*eventstore.Store, *dynamodb.Client, string) {
	t.Helper()
	table := dynamotest.TableName(t, dynamotest.Client(t))
	store, client := dynamotest.NewStore(t, eventstore.Config{Table: table})
	return store, client, table
}
