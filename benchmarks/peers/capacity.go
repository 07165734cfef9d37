package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB Local reports the capacity of PutItem and of reads as AWS bills
// them, but not of TransactWriteItems: it reports 2 units for a whole
// transaction, whatever its size, where AWS bills 2 write units per KB of
// every item written. The proxy therefore computes the write units of a
// transaction from its items, with AWS's rules, and checks the same
// computation against DynamoDB Local's figure on every PutItem.

// attr is an attribute value in DynamoDB's JSON wire format: {"S": "..."}.
type attr map[string]json.RawMessage

// itemSize is the size DynamoDB bills for an item: attribute names plus
// values, numbers at 1 byte per 2 significant digits plus 1, maps and
// lists 3 bytes plus 1 per element.
func itemSize(item map[string]attr) (int, error) {
	n := 0
	for name, v := range item {
		size, err := valueSize(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		n += len(name) + size
	}
	return n, nil
}

func valueSize(v attr) (int, error) {
	for typ, raw := range v {
		switch typ {
		case "S":
			var s string
			err := json.Unmarshal(raw, &s)
			return len(s), err
		case "N":
			var s string
			err := json.Unmarshal(raw, &s)
			return numberSize(s), err
		case "B":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return 0, err
			}
			return base64.StdEncoding.DecodedLen(len(s)) - strings.Count(s, "="), nil
		case "BOOL", "NULL":
			return 1, nil
		case "SS", "NS", "BS":
			var elems []string
			if err := json.Unmarshal(raw, &elems); err != nil {
				return 0, err
			}
			n := 0
			for _, e := range elems {
				size, _ := valueSize(attr{typ[:1]: mustJSON(e)})
				n += size
			}
			return n, nil
		case "L":
			var elems []attr
			if err := json.Unmarshal(raw, &elems); err != nil {
				return 0, err
			}
			n := 3
			for _, e := range elems {
				size, err := valueSize(e)
				if err != nil {
					return 0, err
				}
				n += 1 + size
			}
			return n, nil
		case "M":
			var m map[string]attr
			if err := json.Unmarshal(raw, &m); err != nil {
				return 0, err
			}
			n := 3
			for k, e := range m {
				size, err := valueSize(e)
				if err != nil {
					return 0, err
				}
				n += 1 + len(k) + size
			}
			return n, nil
		default:
			return 0, fmt.Errorf("unknown attribute type %q", typ)
		}
	}
	return 0, fmt.Errorf("empty attribute value")
}

func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// numberSize is 1 byte per 2 significant digits, plus 1.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Trim(strings.Replace(s, ".", "", 1), "0")
	if digits == "" {
		return 1
	}
	return (len(digits)+1)/2 + 1
}

// writeUnits is DynamoDB's write units for size bytes: 1 per KB, rounded up.
func writeUnits(size int) float64 {
	return float64((size + 1023) / 1024)
}

// tableInfo is what the proxy needs to know of a table to bill a write:
// its key attributes and each global index's keys and projection.
type tableInfo struct {
	keys    []string
	indexes []indexInfo
}

type indexInfo struct {
	keys       []string
	projection types.ProjectionType
	include    []string
}

// writeCost is the write units a write of item costs on the table and on
// each index it lands in; a transactional write costs twice on the table.
func (t *tableInfo) writeCost(item map[string]attr, transactional bool) (float64, error) {
	size, err := itemSize(item)
	if err != nil {
		return 0, err
	}
	units := writeUnits(size)
	if transactional {
		units *= 2
	}
	for _, ix := range t.indexes {
		if !hasAll(item, ix.keys) {
			continue // a sparse index: the item is not in it
		}
		entry := item
		if ix.projection != types.ProjectionTypeAll {
			entry = project(item, append(append(append([]string{}, t.keys...), ix.keys...), ix.include...))
		}
		entrySize, err := itemSize(entry)
		if err != nil {
			return 0, err
		}
		units += writeUnits(entrySize)
	}
	return units, nil
}

func hasAll(item map[string]attr, names []string) bool {
	for _, n := range names {
		if _, ok := item[n]; !ok {
			return false
		}
	}
	return true
}

func project(item map[string]attr, names []string) map[string]attr {
	out := make(map[string]attr, len(names))
	for _, n := range names {
		if v, ok := item[n]; ok {
			out[n] = v
		}
	}
	return out
}

// tables describes tables on first use and remembers them.
type tables struct {
	client *dynamodb.Client
	mu     sync.Mutex
	known  map[string]*tableInfo
}

func (ts *tables) get(ctx context.Context, name string) (*tableInfo, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.known[name]; ok {
		return t, nil
	}
	out, err := ts.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		return nil, err
	}
	t := &tableInfo{keys: keyNames(out.Table.KeySchema)}
	for _, gsi := range out.Table.GlobalSecondaryIndexes {
		ix := indexInfo{keys: keyNames(gsi.KeySchema), projection: types.ProjectionTypeAll}
		if gsi.Projection != nil {
			ix.projection = gsi.Projection.ProjectionType
			ix.include = gsi.Projection.NonKeyAttributes
		}
		t.indexes = append(t.indexes, ix)
	}
	if ts.known == nil {
		ts.known = make(map[string]*tableInfo)
	}
	ts.known[name] = t
	return t, nil
}

func keyNames(schema []types.KeySchemaElement) []string {
	var names []string
	for _, k := range schema {
		names = append(names, aws.ToString(k.AttributeName))
	}
	return names
}
