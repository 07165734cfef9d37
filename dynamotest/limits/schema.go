package limits

import (
	"net/http"
	"sort"
	"strings"
	"sync"
)

// schema is what the simulator knows of a table: its key and its indexes.
type schema struct {
	table   string
	hash    string // partition key attribute
	rng     string // sort key attribute, or ""
	indexes []index
}

// index is a secondary index of a table.
type index struct {
	name       string
	global     bool
	hash, rng  string
	projection string   // ALL, KEYS_ONLY or INCLUDE
	include    []string // INCLUDE's non-key attributes
}

// schemaCache holds the schemas learnt, per table name.
type schemaCache struct {
	mu     sync.Mutex
	tables map[string]*schema
}

// schema returns the schema of table, from the cache or DescribeTable sent
// through the backend with orig's headers; nil if the table cannot be
// described (the request then passes through uncharged, and the server
// answers).
func (t *transport) schema(orig *http.Request, table string) *schema {
	c := &t.sim.schemas
	c.mu.Lock()
	sch := c.tables[table]
	c.mu.Unlock()
	if sch != nil || table == "" {
		return sch
	}
	var out struct {
		Table struct {
			KeySchema              []keyElement
			GlobalSecondaryIndexes []indexDescription
			LocalSecondaryIndexes  []indexDescription
		}
	}
	if err := t.call(orig, "DescribeTable", map[string]any{"TableName": table}, &out); err != nil {
		return nil
	}
	sch = &schema{table: table}
	sch.hash, sch.rng = keyNames(out.Table.KeySchema)
	if sch.hash == "" {
		return nil
	}
	for _, d := range out.Table.GlobalSecondaryIndexes {
		sch.indexes = append(sch.indexes, d.index(true))
	}
	for _, d := range out.Table.LocalSecondaryIndexes {
		sch.indexes = append(sch.indexes, d.index(false))
	}
	c.mu.Lock()
	c.tables[table] = sch
	c.mu.Unlock()
	return sch
}

type keyElement struct{ AttributeName, KeyType string }

type indexDescription struct {
	IndexName  string
	KeySchema  []keyElement
	Projection struct {
		ProjectionType   string
		NonKeyAttributes []string
	}
}

func (d indexDescription) index(global bool) index {
	ix := index{name: d.IndexName, global: global, projection: d.Projection.ProjectionType, include: d.Projection.NonKeyAttributes}
	ix.hash, ix.rng = keyNames(d.KeySchema)
	return ix
}

func keyNames(ks []keyElement) (hash, rng string) {
	for _, k := range ks {
		switch k.KeyType {
		case "HASH":
			hash = k.AttributeName
		case "RANGE":
			rng = k.AttributeName
		}
	}
	return hash, rng
}

// index returns the index named name, or nil.
func (s *schema) index(name string) *index {
	for i := range s.indexes {
		if s.indexes[i].name == name {
			return &s.indexes[i]
		}
	}
	return nil
}

// key returns the base table key of it.
func (s *schema) key(it item) item {
	k := item{}
	for _, a := range []string{s.hash, s.rng} {
		if v, ok := it[a]; ok && a != "" {
			k[a] = v
		}
	}
	return k
}

// keyString renders the base table key of it, to name the item.
func (s *schema) keyString(it item) string {
	return scalar(it[s.hash]) + "\x00" + scalar(it[s.rng])
}

// lands reports whether it appears in ix: it has ix's key attributes.
func (ix *index) lands(it item) bool {
	if it == nil {
		return false
	}
	for _, a := range []string{ix.hash, ix.rng} {
		if _, ok := it[a]; a != "" && !ok {
			return false
		}
	}
	return true
}

// indexKey renders the index key of it.
func (ix *index) indexKey(it item) string {
	return scalar(it[ix.hash]) + "\x00" + scalar(it[ix.rng])
}

// project returns the image of it that ix stores.
func (ix *index) project(s *schema, it item) item {
	if ix.projection == "ALL" || ix.projection == "" {
		return it
	}
	p := item{}
	for _, a := range append([]string{s.hash, s.rng, ix.hash, ix.rng}, ix.include...) {
		if v, ok := it[a]; ok && a != "" {
			p[a] = v
		}
	}
	return p
}

// scalar renders a key attribute value as its type and text, "" for a
// missing or malformed one.
func scalar(v any) string {
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			b.WriteString(k + ":" + s)
		}
	}
	return b.String()
}

// keyValue renders a partition key value for a Key: its text alone.
func keyValue(v any) string {
	s := scalar(v)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}
