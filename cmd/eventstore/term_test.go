package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
)

// checkPrintable fails unless out holds only printable runes and line
// breaks: no escape sequence reaches the operator's terminal.
func checkPrintable(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not UTF-8: %q", what, out)
	}
	for _, r := range out {
		if r != '\n' && !strconv.IsPrint(r) {
			t.Errorf("%s prints %U raw: %q", what, r, out)
			return
		}
	}
}

// Issue 26, security: the human output (cat, log, verify, stats, errors)
// escapes control characters of the table's strings: an aggregate id, an
// event type, metadata, data, an attribute of the metadata item.
func TestHumanOutputEscapesControlCharacters(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{})
	const agg = "evil\x1b]0;pwned\a#1"
	_, err := store.Append(ctx(t), eventstore.Commit{AggregateID: agg, Version: 0,
		Metadata: map[string]string{"k\x1b[2J": "v\x1b[31m"},
		Events: []eventstore.Event{{Type: "t\x1b[31m\u202e", Data: json.RawMessage("\"\u009b31m\u202e\u2028\x7f\""),
			Metadata: map[string]string{"\u0085": "\x00"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cat := runCLI(t, table, "cat", agg).want(t, exitOK).stdout
	checkPrintable(t, "cat", cat)
	if !strings.Contains(cat, `"evil\x1b]0;pwned\a#1" v0 `) || !strings.Contains(cat, `"t\x1b[31m\u202e"`) {
		t.Errorf("cat does not show the escaped id and type:\n%s", cat)
	}
	checkPrintable(t, "log", runCLI(t, table, "log", "-settle", "0").want(t, exitOK).stdout)
	missing := runCLI(t, table, "cat", "\x1b[31mnone").want(t, exitRuntime)
	checkPrintable(t, "cat's error", missing.stderr)

	_, err = client.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: &table, Item: map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "\x1b]0;pwned\a"},
		"version":     &types.AttributeValueMemberN{Value: "0"},
		"commitId":    &types.AttributeValueMemberS{Value: ulid.Make().String()},
		"events":      &types.AttributeValueMemberS{Value: "not json\x1b[31m"},
		"eventsKey":   &types.AttributeValueMemberS{Value: "\x1b[31m"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkPrintable(t, "verify", runCLI(t, table, "verify").want(t, exitProblems).stdout)

	_, err = client.UpdateItem(ctx(t), &dynamodb.UpdateItemInput{TableName: &table,
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: metaAggregateID},
			"version":     &types.AttributeValueMemberN{Value: metaVersion},
		},
		UpdateExpression:          aws.String("SET #x = :x"),
		ExpressionAttributeNames:  map[string]string{"#x": "x\x1b[31m"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberS{Value: "\x1b]0;pwned\a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPrintable(t, "stats", runCLI(t, table, "stats").want(t, exitOK).stdout)
}

func TestEscaped(t *testing.T) {
	for _, tc := range []struct{ in, field, line string }{
		{"account#1 ü", "account#1 ü", "account#1 ü"},
		{"a\x1b[31mb", `"a\x1b[31mb"`, `a\x1b[31mb`},
		{"bad\xffbyte", `"bad\xffbyte"`, `bad\xffbyte`},
		{"\u202e\u0085\t", `"\u202e\u0085\t"`, `\u202e\u0085\t`},
		{"\ufffd", "\"\ufffd\"", "\ufffd"}, // U+FFFD is printable, but quoted, as an invalid byte would be
	} {
		if got := field(tc.in); got != tc.field {
			t.Errorf("field(%q) = %s, want %s", tc.in, got, tc.field)
		}
		if got := escaped(tc.in); got != tc.line {
			t.Errorf("escaped(%q) = %s, want %s", tc.in, got, tc.line)
		}
	}
}
