package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
)

// randomCommit builds a valid commit from r: random types, data shapes,
// metadata and sizes (some past the compression threshold).
func randomCommit(r *rand.Rand) Commit {
	id := newCommitID(time.Now())
	c := Commit{
		AggregateID: "agg-" + string(rune('a'+r.IntN(26))),
		Version:     r.Int64N(1 << 40),
		CommitID:    id.String(),
		CommittedAt: commitTime(id),
	}
	if r.IntN(2) == 0 {
		c.Metadata = map[string]string{"user": "u" + strings.Repeat("x", r.IntN(5)), "<&>": "\"quoted\"\n"}
	}
	for range 1 + r.IntN(20) {
		e := Event{Type: "t" + strings.Repeat("y", r.IntN(3))}
		switch r.IntN(4) {
		case 0:
		case 1:
			e.Data = json.RawMessage(`{"html": "<b>&amp;</b>", "n": 1.50e3,  "s":"\u00e9"}`)
		case 2:
			e.Data = json.RawMessage(`"` + strings.Repeat("ab", r.IntN(4000)) + `"`)
		case 3:
			e.Data = json.RawMessage("[true ,\n null]")
			e.Metadata = map[string]string{"k": "v"}
		}
		c.Events = append(c.Events, e)
	}
	return c
}

// codecStore is a Store with the default Config, for the codec's tests: it
// sends no request.
var codecStore = func() *Store {
	cfg := Config{Table: "codec"}
	cfg.setDefaults()
	return &Store{cfg: cfg}
}()

// encodeCommit is the item Append writes for c.
func encodeCommit(c Commit) (map[string]types.AttributeValue, error) {
	p, err := codecStore.pack(c)
	if err != nil {
		return nil, err
	}
	enc, err := codecStore.encodeItem(c, p)
	return enc.item, err
}

// decodeCommit is the Commit a read yields for item, whose events must not
// be offloaded.
func decodeCommit(item map[string]types.AttributeValue) (Commit, error) {
	c, ref, err := decodeStored(item)
	if err == nil && ref != nil {
		return Commit{}, fmt.Errorf("%w: events offloaded to %s", ErrCorruptCommit, ref.key)
	}
	return c, err
}

func TestItemRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	compressed := 0
	for range 500 {
		c := randomCommit(r)
		if err := c.validate(); err != nil {
			t.Fatalf("random commit invalid: %v", err)
		}
		item, err := encodeCommit(c)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, ok := item[attrEvents].(*types.AttributeValueMemberB); ok {
			compressed++
		}
		got, err := decodeCommit(item)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	}
	if compressed == 0 || compressed == 500 {
		t.Errorf("%d of 500 commits compressed, want some but not all", compressed)
	}
}

func TestSmallEventsStayReadableJSON(t *testing.T) {
	id := newCommitID(time.Now())
	c := Commit{AggregateID: "a", CommitID: id.String(), CommittedAt: commitTime(id),
		Events: []Event{{Type: "created", Data: json.RawMessage(`{"a": 1}`)}}}
	item, err := encodeCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := item[attrEvents].(*types.AttributeValueMemberS)
	if !ok || s.Value != `[{"t":"created","d":{"a": 1}}]` {
		t.Errorf("events attribute = %#v, want plain JSON keeping the data's bytes", item[attrEvents])
	}
}

func TestItemSizeBoundsDynamoDB(t *testing.T) {
	item := map[string]types.AttributeValue{
		"s": &types.AttributeValueMemberS{Value: "abc"},        // 1 + 3
		"n": &types.AttributeValueMemberN{Value: "12345"},      // 1 + 21 (at most)
		"b": &types.AttributeValueMemberB{Value: []byte{1, 2}}, // 1 + 2
		"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberS{Value: "v"}, // 3 + (1 + 1 + 1)
		}},
	}
	if got, want := itemSize(item), 4+22+3+7; got != want {
		t.Errorf("itemSize = %d, want %d", got, want)
	}
}

func TestDecodeRefusesInflationBomb(t *testing.T) {
	bomb := deflate([]byte(`[{"t":"x","d":"` + strings.Repeat("a", maxEventsBytes) + `"}]`))
	if _, err := decodeEvents(&types.AttributeValueMemberB{Value: bomb}); err == nil {
		t.Fatal("decoded a payload inflating past the limit")
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	c := Commit{AggregateID: "acct", Version: 4, Events: []Event{{Type: "a"}, {Type: "b", Data: json.RawMessage("{")}}}
	err := c.validate()
	if !errors.Is(err, errInvalidEventData) || !strings.Contains(err.Error(), `"acct" version 4 event 1 (b)`) {
		t.Errorf("validate = %v, want errInvalidEventData naming the event", err)
	}
}
