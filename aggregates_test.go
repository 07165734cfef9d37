package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
)

// collectIDs drains an id sequence, failing the test on error.
func collectIDs(tb testing.TB, seq func(func(string, error) bool)) []string {
	tb.Helper()
	var ids []string
	for id, err := range seq {
		if err != nil {
			tb.Fatalf("Aggregates: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestAggregatesListsEachAggregateOnceInCreationOrder(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex, ScanShards: 3})
	if got := collectIDs(t, s.Aggregates(ctxT(t))); len(got) != 0 {
		t.Fatalf("Aggregates of an empty table: %v, want none (not the metadata item)", got)
	}
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("account#%02d", (i*7)%20) // created out of name order
		want = append(want, id)
		mustAppend(t, s, commit(id, 0))
		mustAppend(t, s, commit(id, 1))
	}
	grouped, err := s.AppendAll(ctxT(t), commit("account#00", 2), commit("group#1", 0), commit("group#2", 0))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, grouped[1].AggregateID, grouped[2].AggregateID)
	if diff := cmp.Diff(want, collectIDs(t, s.Aggregates(ctxT(t)))); diff != "" {
		t.Errorf("Aggregates (-want +got):\n%s", diff)
	}
	// Only version-0 commits carry the index key.
	for v, want := range map[string]bool{"0": true, "1": false} {
		out, err := client.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "account#00"}, "version": &types.AttributeValueMemberN{Value: v}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, has := out.Item["aggregateShard"]; has != want {
			t.Errorf("version %s has aggregateShard: %v, want %v", v, has, want)
		}
	}
	// Breaking out early stops the sequence.
	n := 0
	for _, err := range s.Aggregates(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
}

func TestAggregatesNeedsTheIndex(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	for _, err := range s.Aggregates(ctxT(t)) {
		if err == nil || !strings.Contains(err.Error(), "Config.AggregatesIndex") {
			t.Errorf("Aggregates without the index: %v, want an error naming Config.AggregatesIndex", err)
		}
	}
	// A table made without the index does not get it from CreateTable.
	with := storeOn(t, client, table, eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex})
	if err := with.CreateTable(ctxT(t)); !errors.Is(err, eventstore.ErrTableMismatch) {
		t.Errorf("CreateTable with AggregatesIndex on a table without it: %v, want ErrTableMismatch", err)
	}
}
