package eventstore

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The CloudFormation, Terraform and CDK snippets of docs/table.md are generated
// here from the CreateTableInput of a store with every feature, so that
// they cannot drift from the table CreateTable makes:
//
//	go test -run TestIaCSnippets -update-iac
var updateIaC = flag.Bool("update-iac", false, "rewrite the IaC snippets of "+iacDoc)

// iacDoc is the page that holds the IaC snippets.
const iacDoc = "docs/table.md"

// iacStore is the store the snippets describe: every optional feature on.
func iacStore(tb testing.TB) *Store {
	s, err := New(&dynamodb.Client{}, Config{Table: "events", AggregatesIndex: DefaultAggregatesIndex, TTL: 30 * 24 * time.Hour, Stream: true})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// iacTable is what a snippet needs to know of the table.
type iacTable struct {
	in     *dynamodb.CreateTableInput
	ttl    string            // attribute of Time to Live
	notes  map[string]string // index or attribute name, "ttl", "stream": the Config field it belongs to
	stream types.StreamViewType
}

func newIaCTable(s *Store) iacTable {
	t := iacTable{in: s.tableInput(), ttl: attrExpiresAt, notes: map[string]string{
		s.cfg.AggregatesIndex: "Config.AggregatesIndex: Store.Aggregates",
		attrAggregateShard:    "Config.AggregatesIndex",
		"ttl":                 "Config.TTL: for ephemeral streams only",
		"stream":              "Config.Stream: ParseImage",
	}}
	if t.in.StreamSpecification != nil {
		t.stream = t.in.StreamSpecification.StreamViewType
	}
	return t
}

// key returns the hash and range attribute names of a key schema.
func key(ks []types.KeySchemaElement) (hash, rng string) {
	for _, k := range ks {
		if k.KeyType == types.KeyTypeHash {
			hash = aws.ToString(k.AttributeName)
		} else {
			rng = aws.ToString(k.AttributeName)
		}
	}
	return hash, rng
}

func (t iacTable) cloudFormation() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	note := func(name, indent string) {
		if n := t.notes[name]; n != "" {
			p("%s# %s", indent, n)
		}
	}
	p("EventsTable:")
	p("  Type: AWS::DynamoDB::Table")
	p("  Properties:")
	p("    TableName: %s", aws.ToString(t.in.TableName))
	p("    BillingMode: %s", t.in.BillingMode)
	p("    AttributeDefinitions:")
	for _, a := range t.in.AttributeDefinitions {
		note(aws.ToString(a.AttributeName), "      ")
		p("      - { AttributeName: %s, AttributeType: %s }", aws.ToString(a.AttributeName), a.AttributeType)
	}
	hash, rng := key(t.in.KeySchema)
	p("    KeySchema:")
	p("      - { AttributeName: %s, KeyType: HASH }", hash)
	p("      - { AttributeName: %s, KeyType: RANGE }", rng)
	p("    GlobalSecondaryIndexes:")
	for _, ix := range t.in.GlobalSecondaryIndexes {
		hash, rng := key(ix.KeySchema)
		note(aws.ToString(ix.IndexName), "      ")
		p("      - IndexName: %s", aws.ToString(ix.IndexName))
		p("        KeySchema:")
		p("          - { AttributeName: %s, KeyType: HASH }", hash)
		p("          - { AttributeName: %s, KeyType: RANGE }", rng)
		p("        Projection: { ProjectionType: %s }", ix.Projection.ProjectionType)
	}
	note("ttl", "    ")
	p("    TimeToLiveSpecification: { AttributeName: %s, Enabled: true }", t.ttl)
	note("stream", "    ")
	p("    StreamSpecification: { StreamViewType: %s }", t.stream)
	return b.String()
}

func (t iacTable) terraform() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	note := func(name string) {
		if n := t.notes[name]; n != "" {
			p("  # %s", n)
		}
	}
	hash, rng := key(t.in.KeySchema)
	p(`resource "aws_dynamodb_table" "events" {`)
	p(`  name         = %q`, aws.ToString(t.in.TableName))
	p(`  billing_mode = %q`, t.in.BillingMode)
	p(`  hash_key     = %q`, hash)
	p(`  range_key    = %q`, rng)
	for _, a := range t.in.AttributeDefinitions {
		p("")
		note(aws.ToString(a.AttributeName))
		p("  attribute {")
		p("    name = %q", aws.ToString(a.AttributeName))
		p("    type = %q", a.AttributeType)
		p("  }")
	}
	for _, ix := range t.in.GlobalSecondaryIndexes {
		hash, rng := key(ix.KeySchema)
		p("")
		note(aws.ToString(ix.IndexName))
		p("  global_secondary_index {")
		p("    name            = %q", aws.ToString(ix.IndexName))
		p("    hash_key        = %q", hash)
		p("    range_key       = %q", rng)
		p("    projection_type = %q", ix.Projection.ProjectionType)
		p("  }")
	}
	p("")
	note("ttl")
	p("  ttl {")
	p("    attribute_name = %q", t.ttl)
	p("    enabled        = true")
	p("  }")
	p("")
	note("stream")
	p("  stream_enabled   = true")
	p("  stream_view_type = %q", t.stream)
	p("}")
	return b.String()
}

func (t iacTable) cdk() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	typ := map[types.ScalarAttributeType]string{types.ScalarAttributeTypeS: "STRING", types.ScalarAttributeTypeN: "NUMBER", types.ScalarAttributeTypeB: "BINARY"}
	attrType := func(name string) string {
		for _, a := range t.in.AttributeDefinitions {
			if aws.ToString(a.AttributeName) == name {
				return "AttributeType." + typ[a.AttributeType]
			}
		}
		return "?"
	}
	hash, rng := key(t.in.KeySchema)
	p("import { AttributeType, BillingMode, ProjectionType, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb';")
	p("")
	p("const events = new Table(this, 'Events', {")
	p("  tableName: '%s',", aws.ToString(t.in.TableName))
	p("  billingMode: BillingMode.%s,", t.in.BillingMode)
	p("  partitionKey: { name: '%s', type: %s },", hash, attrType(hash))
	p("  sortKey: { name: '%s', type: %s },", rng, attrType(rng))
	p("  timeToLiveAttribute: '%s', // %s", t.ttl, t.notes["ttl"])
	p("  stream: StreamViewType.%s, // %s", t.stream, t.notes["stream"])
	p("});")
	for _, ix := range t.in.GlobalSecondaryIndexes {
		hash, rng := key(ix.KeySchema)
		if n := t.notes[aws.ToString(ix.IndexName)]; n != "" {
			p("// %s", n)
		}
		p("events.addGlobalSecondaryIndex({")
		p("  indexName: '%s',", aws.ToString(ix.IndexName))
		p("  partitionKey: { name: '%s', type: %s },", hash, attrType(hash))
		p("  sortKey: { name: '%s', type: %s },", rng, attrType(rng))
		p("  projectionType: ProjectionType.%s,", ix.Projection.ProjectionType)
		p("});")
	}
	return b.String()
}

// iacBlock matches a generated block of iacDoc: its markers and the
// fenced code between them.
func iacBlock(name string) *regexp.Regexp {
	return regexp.MustCompile("(?s)(<!-- iac:" + name + " [^\n]*-->\n```[a-z]*\n)(.*?)(```\n<!-- /iac:" + name + " -->)")
}

func TestIaCSnippets(t *testing.T) {
	table := newIaCTable(iacStore(t))
	readme, err := os.ReadFile(iacDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for name, want := range map[string]string{"cloudformation": table.cloudFormation(), "terraform": table.terraform(), "cdk": table.cdk()} {
		re := iacBlock(name)
		m := re.FindStringSubmatch(text)
		switch {
		case m == nil:
			t.Errorf("%s has no block <!-- iac:%s ... --> ... <!-- /iac:%s -->", iacDoc, name, name)
		case *updateIaC:
			text = re.ReplaceAllLiteralString(text, m[1]+want+m[3])
		case m[2] != want:
			t.Errorf("%s: the %s snippet differs from the table CreateTable makes; run go test -run TestIaCSnippets -update-iac.\nwant:\n%s", iacDoc, name, want)
		}
	}
	if *updateIaC && text != string(readme) {
		if err := os.WriteFile(iacDoc, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The snippets hold every name of the table definition, so a change of a
// constant changes them.
func TestIaCSnippetsNameEverything(t *testing.T) {
	table := newIaCTable(iacStore(t))
	names := []string{aws.ToString(table.in.TableName), table.ttl, string(table.stream)}
	for _, a := range table.in.AttributeDefinitions {
		names = append(names, aws.ToString(a.AttributeName))
	}
	for _, ix := range table.in.GlobalSecondaryIndexes {
		names = append(names, aws.ToString(ix.IndexName), string(ix.Projection.ProjectionType))
	}
	if len(table.in.GlobalSecondaryIndexes) != 2 || len(table.in.AttributeDefinitions) != 5 {
		t.Fatalf("table %+v, want the scan and aggregates indexes", table.in)
	}
	for snippet, text := range map[string]string{"CloudFormation": table.cloudFormation(), "Terraform": table.terraform(), "CDK": table.cdk()} {
		for _, n := range names {
			if !strings.Contains(text, n) {
				t.Errorf("%s snippet lacks %q:\n%s", snippet, n, text)
			}
		}
	}
}
