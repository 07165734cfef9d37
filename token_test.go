package eventstore

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The request token of a transaction is a function of the table and of
// every attribute of every item, within DynamoDB's 36 characters.
func TestRequestToken(t *testing.T) {
	item := func(events string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			attrAggregateID: &types.AttributeValueMemberS{Value: "a"},
			attrVersion:     &types.AttributeValueMemberN{Value: "0"},
			attrEvents:      &types.AttributeValueMemberS{Value: events},
			attrMetadata:    &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "v"}}},
		}
	}
	base := requestToken("events", []map[string]types.AttributeValue{item("x"), item("y")})
	if len(base) != 36 {
		t.Fatalf("token %q has %d characters, want 36", base, len(base))
	}
	for i := range 20 { // map order must not matter
		if again := requestToken("events", []map[string]types.AttributeValue{item("x"), item("y")}); again != base {
			t.Fatalf("run %d: token %s, want %s for the same items", i, again, base)
		}
	}
	binary := item("x")
	binary[attrEvents] = &types.AttributeValueMemberB{Value: []byte("x")}
	for name, items := range map[string][]map[string]types.AttributeValue{
		"other table":    nil,
		"other events":   {item("x"), item("z")},
		"other order":    {item("y"), item("x")},
		"fewer items":    {item("x")},
		"binary events":  {binary, item("y")},
		"boundary moved": {item("xy"), item("")},
		"metadata differs": {item("x"), func() map[string]types.AttributeValue {
			i := item("y")
			i[attrMetadata] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "w"}}}
			return i
		}()},
	} {
		table := "events"
		if items == nil {
			table, items = "other", []map[string]types.AttributeValue{item("x"), item("y")}
		}
		if got := requestToken(table, items); got == base {
			t.Errorf("%s: same token %s", name, got)
		}
	}
}
