package eventstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
)

// imageJSON writes an item in DynamoDB's JSON form, as a Lambda function
// receives a stream record's NewImage.
func imageJSON(tb testing.TB, item map[string]types.AttributeValue) []byte {
	tb.Helper()
	b, err := json.Marshal(jsonMap(item))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func jsonMap(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = jsonValue(v)
	}
	return m
}

func jsonValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": v.Value}
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": v.Value}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": jsonMap(v.Value)}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = jsonValue(e)
		}
		return map[string]any{"L": l}
	}
	panic(fmt.Sprintf("attribute of type %T", v))
}

// rawItem reads the item of a commit as DynamoDB holds it.
func rawItem(tb testing.TB, client *dynamodb.Client, table, aggregateID string, version int64) map[string]types.AttributeValue {
	tb.Helper()
	out, err := client.GetItem(ctxT(tb), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: aggregateID},
			"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)}}})
	if err != nil {
		tb.Fatal(err)
	}
	return out.Item
}

// The image of a stored item, as a map or as JSON, parses to the commit
// Query returns: plain, compressed, with metadata, with TTL and index keys.
func TestParseImageOfStoredCommits(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{TTL: (eventstore.DefaultMaxCommitLatency + eventstore.SettleAllowance) * 10, AggregatesIndex: eventstore.DefaultAggregatesIndex})
	big := eventstore.Event{Type: "big", Data: json.RawMessage(`"` + strings.Repeat("compressible ", 2000) + `"`)}
	commits := []eventstore.Commit{
		commit("a", 0),
		{AggregateID: "a", Version: 1, Events: []eventstore.Event{big, {Type: "bare"}}, Metadata: map[string]string{"user": "ünï"}},
		commit("b#1", 0, eventstore.Event{Type: "t", Data: json.RawMessage(`{"x":[1,{"y":null}]}`), Metadata: map[string]string{"k": "v"}}),
	}
	for _, c := range commits {
		stored := mustAppend(t, s, c)
		want := collect(t, s.Query(ctxT(t), c.AggregateID, c.Version))[0]
		item := rawItem(t, client, table, c.AggregateID, c.Version)
		got, err := eventstore.ParseImage(item)
		if err != nil {
			t.Fatalf("ParseImage(%s v%d): %v", c.AggregateID, c.Version, err)
		}
		if diff := cmp.Diff(want, got); diff != "" || got.CommitID != stored.CommitID {
			t.Errorf("ParseImage (-Query +image):\n%s", diff)
		}
		got, err = eventstore.ParseImageJSON(imageJSON(t, item))
		if diff := cmp.Diff(want, got); err != nil || diff != "" {
			t.Errorf("ParseImageJSON: %v (-Query +image):\n%s", err, diff)
		}
	}
}

func TestParseImageRefusesWhatIsNotACommit(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("a", 0))
	item := rawItem(t, client, table, "a", 0)
	keysOnly := map[string]types.AttributeValue{"aggregateId": item["aggregateId"], "version": item["version"]}
	broken := map[string]types.AttributeValue{}
	for k, v := range item {
		broken[k] = v
	}
	broken["events"] = &types.AttributeValueMemberS{Value: `[{"d":1}]`}
	tests := []struct {
		name  string
		image map[string]types.AttributeValue
		want  error
	}{
		{"no image", nil, eventstore.ErrNotCommit},
		{"keys only", keysOnly, eventstore.ErrNotCommit},
		{"metadata item", rawItem(t, client, table, "$eventstore", -1), eventstore.ErrNotCommit},
		{"foreign item", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}}, eventstore.ErrNotCommit},
		{"commit with broken events", broken, eventstore.ErrCorruptCommit},
	}
	for _, tt := range tests {
		_, err := eventstore.ParseImage(tt.image)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: ParseImage: %v, want %v", tt.name, err, tt.want)
		}
		if tt.want == eventstore.ErrCorruptCommit && (errors.Is(err, eventstore.ErrNotCommit) || !strings.Contains(err.Error(), `"a" version 0`)) {
			t.Errorf("%s: %v, want an error naming the commit, not ErrNotCommit", tt.name, err)
		}
		if tt.image != nil {
			if _, err := eventstore.ParseImageJSON(imageJSON(t, tt.image)); !errors.Is(err, tt.want) {
				t.Errorf("%s: ParseImageJSON: %v, want %v", tt.name, err, tt.want)
			}
		}
	}
}

// The JSON form: every attribute type decodes; what is not an image is
// ErrCorruptCommit, no image ErrNotCommit.
func TestParseImageJSON(t *testing.T) {
	t.Parallel()
	const commitAttrs = `"aggregateId":{"S":"a"},"version":{"N":"3"},"commitId":{"S":"01JZ0000000000000000000001"},` +
		`"committedAt":{"N":"1751272914944"},"events":{"S":"[{\"t\":\"x\",\"d\":{\"n\":1}}]"}`
	tests := []struct {
		name  string
		image string
		want  error // nil: it parses
	}{
		{"commit", `{` + commitAttrs + `}`, nil},
		{"commit with every other type", `{` + commitAttrs + `,"b":{"B":"AAEC"},"t":{"BOOL":true},"z":{"NULL":true},` +
			`"ss":{"SS":["a","b"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AA=="]},"l":{"L":[{"S":"x"},{"M":{"k":{"N":"1"}}}]},` +
			`"metadata":{"M":{"user":{"S":"u"}}}}`, nil},
		{"empty", ``, eventstore.ErrNotCommit},
		{"null", ` null `, eventstore.ErrNotCommit},
		{"empty object", `{}`, eventstore.ErrNotCommit},
		{"not JSON", `{"aggregateId":`, eventstore.ErrCorruptCommit},
		{"not an object", `[1]`, eventstore.ErrCorruptCommit},
		{"untyped value", `{"aggregateId":"a"}`, eventstore.ErrCorruptCommit},
		{"two types", `{"aggregateId":{"S":"a","N":"1"}}`, eventstore.ErrCorruptCommit},
		{"unknown type", `{"aggregateId":{"X":"a"}}`, eventstore.ErrCorruptCommit},
		{"bad base64", `{` + commitAttrs + `,"b":{"B":"!!"}}`, eventstore.ErrCorruptCommit},
		{"string as number", `{"aggregateId":{"S":"a"},"version":{"N":3}}`, eventstore.ErrCorruptCommit},
		{"too deep", `{"x":` + strings.Repeat(`{"L":[`, 40) + `{"S":"x"}` + strings.Repeat(`]}`, 40) + `}`, eventstore.ErrCorruptCommit},
	}
	for _, tt := range tests {
		c, err := eventstore.ParseImageJSON([]byte(tt.image))
		switch {
		case tt.want == nil && (err != nil || c.AggregateID != "a" || c.Version != 3 || string(c.Events[0].Data) != `{"n":1}`):
			t.Errorf("%s: %+v, %v; want aggregate a version 3", tt.name, c, err)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzParseImageJSON: whatever the input, no panic, and an error is
// ErrNotCommit or ErrCorruptCommit; a parsed commit is one Append would
// accept back.
func FuzzParseImageJSON(f *testing.F) {
	f.Add([]byte(`{"aggregateId":{"S":"a"},"version":{"N":"3"},"commitId":{"S":"01JZ0000000000000000000001"},"committedAt":{"N":"1751272914944"},"events":{"S":"[{\"t\":\"x\"}]"}}`))
	f.Add([]byte(`{"aggregateId":{"S":"$eventstore"},"version":{"N":"-1"},"scanShards":{"N":"4"}}`))
	f.Add([]byte(`{"a":{"L":[{"M":{"b":{"BS":["AA=="]}}}]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, image []byte) {
		c, err := eventstore.ParseImageJSON(image)
		if err != nil {
			if !errors.Is(err, eventstore.ErrNotCommit) && !errors.Is(err, eventstore.ErrCorruptCommit) {
				t.Fatalf("error %v is neither ErrNotCommit nor ErrCorruptCommit", err)
			}
			return
		}
		if c.AggregateID == "" || c.Version < 0 || len(c.Events) == 0 || c.CommitID == "" {
			t.Fatalf("parsed a commit that is not one: %+v", c)
		}
	})
}
