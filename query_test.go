package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// countingClient counts Query requests.
type countingClient struct {
	eventstore.DynamoDBAPI
	queries atomic.Int64
}

func (c *countingClient) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.queries.Add(1)
	return c.DynamoDBAPI.Query(ctx, in, optFns...)
}

func TestQueryPagesThroughMoreThanOneMegabyte(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	const commits = 60 // 60 × ~30 KB = 1.8 MB: at least two pages.
	for v := range commits {
		mustAppend(t, s, commit("big", int64(v), eventstore.Event{
			Type: "chunk", Data: json.RawMessage(`"` + randomText(30*1024) + `"`)}))
	}
	counting := &countingClient{DynamoDBAPI: client}
	reader, err := eventstore.New(counting, eventstore.Config{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []int64{0, 1, 31, 59, 60} {
		got := collect(t, reader.Query(ctxT(t), "big", from))
		if len(got) != int(commits-from) {
			t.Fatalf("Query from %d yielded %d commits, want %d", from, len(got), commits-from)
		}
		for i, c := range got {
			if c.Version != from+int64(i) {
				t.Fatalf("Query from %d: commit %d has version %d", from, i, c.Version)
			}
		}
	}
	if n := counting.queries.Load(); n < 6 {
		t.Errorf("%d Query requests for 5 reads of 1.8 MB, want paging (more than one per read)", n)
	}

	// Breaking out of the loop stops the requests.
	counting.queries.Store(0)
	for c, err := range reader.Query(ctxT(t), "big", 0) {
		if err != nil || c.Version != 0 {
			t.Fatalf("first commit: %+v, %v", c, err)
		}
		break
	}
	if n := counting.queries.Load(); n != 1 {
		t.Errorf("breaking after the first commit sent %d requests, want 1", n)
	}
}

func TestQueryBadInput(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t, eventstore.Config{})
	for _, tt := range []struct {
		id   string
		from int64
		want error
	}{{"", 0, eventstore.ErrInvalidCommit}, {"a", -1, eventstore.ErrInvalidCommit}} {
		for _, err := range s.Query(ctxT(t), tt.id, tt.from) {
			if !errors.Is(err, tt.want) {
				t.Errorf("Query(%q, %d): %v, want %v", tt.id, tt.from, err, tt.want)
			}
		}
	}
	if got := collect(t, s.Query(ctxT(t), "nobody", 0)); len(got) != 0 {
		t.Errorf("Query of an unknown aggregate yielded %d commits", len(got))
	}
}

func TestCorruptItemGivesNamedError(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{ScanShards: 1})
	good := mustAppend(t, s, commit("agg", 0))
	corrupt := []map[string]types.AttributeValue{
		{"events": &types.AttributeValueMemberS{Value: `[{"t":`}},
		{"events": &types.AttributeValueMemberB{Value: []byte("not deflate")}},
		{"events": &types.AttributeValueMemberN{Value: "1"}},
		{"events": &types.AttributeValueMemberS{Value: `[]`}},
		{"commitId": nil}, // absent
		{"commitId": &types.AttributeValueMemberS{Value: "not a ulid"}},
		{"metadata": &types.AttributeValueMemberS{Value: "flat"}},
		{"committedAt": &types.AttributeValueMemberS{Value: "yesterday"}},
	}
	for i, patch := range corrupt {
		version := int64(i + 1)
		item := map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "agg"},
			"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)},
			"commitId":    &types.AttributeValueMemberS{Value: good.CommitID},
			"committedAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(good.CommittedAt.UnixMilli(), 10)},
			"events":      &types.AttributeValueMemberS{Value: `[{"t":"x"}]`},
		}
		for k, v := range patch {
			if item[k] = v; v == nil {
				delete(item, k)
			}
		}
		if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
		var got error
		for _, err := range s.Query(ctxT(t), "agg", version) {
			got = err
			break
		}
		if !errors.Is(got, eventstore.ErrCorruptCommit) {
			t.Errorf("corrupt item %v: Query yielded %v, want ErrCorruptCommit", patch, got)
		} else if want := `aggregate "agg" version ` + strconv.FormatInt(version, 10); !strings.Contains(got.Error(), want) {
			t.Errorf("error %q does not name %s", got, want)
		}
	}
}
