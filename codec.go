package eventstore

// The codec: the events' JSON and its compression. The item itself is
// built and read in item.go. Measurements of the JSON choice are in
// docs/performance.md, "The codec".

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

const (
	// maxItemBytes is DynamoDB's item size limit (400 KB).
	maxItemBytes = 400 * 1024
	// writeUnitBytes is what one write capacity unit covers: DynamoDB
	// bills a write per started KB of the item, once on the table and once
	// on the scan index.
	writeUnitBytes = 1024
	// itemOverhead is an upper bound of a commit item's bytes besides its
	// events and aggregate id and metadata: attribute names, version,
	// commitId, committedAt, shard and the optional features' attributes.
	itemOverhead = 160
	// maxEventsBytes is the most Config.MaxCommitBytes may be: 64 MiB of
	// events as JSON. decodeEvents inflates no payload past it, so a corrupt
	// or hostile item cannot exhaust memory, and refuses nothing a store
	// writes.
	maxEventsBytes = 64 << 20
	// maxCommitEvents is the most events a commit holds: pack refuses more,
	// and decodeEvents decodes no more. Decoding costs memory per event
	// (about 100 bytes each, however small the event), which a bound on
	// bytes alone does not bound: 64 MiB of {"t":"x"}, which DEFLATE
	// compresses to a 130 KB item, is 6.7 million events, 2 GB to decode.
	maxCommitEvents = 100_000
)

// wireEvent is an event as stored in the events attribute: a JSON array of
// {"t": type, "d": data, "m": metadata}, absent fields omitted.
type wireEvent struct {
	Type     string            `json:"t"`
	Data     json.RawMessage   `json:"d,omitempty"`
	Metadata map[string]string `json:"m,omitempty"`
}

// encoded is a commit ready to write: its item and, when its events are
// offloaded, the blob to store first under blobKey.
type encoded struct {
	item    map[string]types.AttributeValue
	blobKey string
	blob    []byte
}

// packed is a commit's events, encoded: their JSON and the attribute it is
// stored as. They depend on neither the version nor the CommitID, so they
// are encoded once per commit, whatever is retried.
type packed struct {
	raw    []byte
	events types.AttributeValue
}

// pack encodes the events of a validated commit, within
// Config.MaxCommitBytes and maxCommitEvents.
func (s *Store) pack(c Commit) (packed, error) {
	if len(c.Events) > maxCommitEvents {
		return packed{}, fmt.Errorf("%w: aggregate %q version %d has %d events, over the limit of %d a commit",
			ErrCommitTooLarge, c.AggregateID, c.Version, len(c.Events), maxCommitEvents)
	}
	raw, err := eventsJSON(c)
	if err != nil {
		return packed{}, err
	}
	if len(raw) > s.cfg.MaxCommitBytes {
		return packed{}, fmt.Errorf("%w: aggregate %q version %d has %d bytes of events, over Config.MaxCommitBytes %d",
			ErrCommitTooLarge, c.AggregateID, c.Version, len(raw), s.cfg.MaxCommitBytes)
	}
	return packed{raw: raw, events: packEvents(raw, overhead(c))}, nil
}

// encodeItem is the item of a prepared commit, with the attributes of the
// optional features, its events offloaded past Config.OffloadAbove when
// Config.Offload is set.
func (s *Store) encodeItem(c Commit, p packed) (encoded, error) {
	events := p.events
	enc := encoded{item: commitItem(c, s.shardOf(c.AggregateID, c.CommitID), events)}
	if c.Version == 0 { // written whatever the config, so an index added later lists every aggregate
		enc.item[attrAggregateShard] = enc.item[attrShard]
	}
	if s.cfg.TTL > 0 {
		// From CommittedAt, not from now, so that every attempt of a commit
		// sends the same item.
		expires := c.CommittedAt.Add(s.cfg.TTL).Unix()
		enc.item[attrExpiresAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)}
	}
	if s.offloads(enc.item) {
		enc.blob = compressed(events, p.raw)
		enc.blobKey = blobKey(c, enc.blob)
		delete(enc.item, attrEvents)
		maps.Copy(enc.item, refAttributes(enc.blobKey, enc.blob))
	}
	return enc, checkItemSize(c, enc.item)
}

// offloads reports whether a commit whose item, events inline, is item has
// its events offloaded: with Config.Offload, when they pass
// Config.OffloadAbove, or when the whole item would pass DynamoDB's limit
// (large commit metadata leaves less room for the events; metadata itself
// is never offloaded).
func (s *Store) offloads(item map[string]types.AttributeValue) bool {
	return s.cfg.Offload != nil && (valueSize(item[attrEvents]) > s.cfg.OffloadAbove || itemSize(item) > maxItemBytes)
}

// checkFits checks, before any request, every limit DynamoDB enforces on
// c's item: its size (the largest a blob key and checksum can make it, when
// the events are offloaded, without compressing and hashing them twice).
// Attribute names are the store's own; commit metadata keys, the only map
// keys, are checked by validate; the item nests two levels deep (the item,
// the metadata map), far under DynamoDB's 32.
func (s *Store) checkFits(c Commit, p packed) error {
	if s.cfg.Offload == nil {
		_, err := s.encodeItem(c, p)
		return err
	}
	item := commitItem(c, s.shardOf(c.AggregateID, c.CommitID), p.events)
	if !s.offloads(item) {
		_, err := s.encodeItem(c, p)
		return err
	}
	delete(item, attrEvents)
	maps.Copy(item, refAttributes(strings.Repeat("k", maxBlobKeyBytes), nil))
	item[attrAggregateShard], item[attrExpiresAt] = item[attrShard], item[attrShard] // as if all the optional attributes were there
	return checkItemSize(c, item)
}

// maxBlobKeyBytes is the length of a blob key (see blobKey and
// importBlobKey), at most.
const maxBlobKeyBytes = 32 + 1 + 19 + 1 + 26 + 1 + 16 + 1 + 26

// checkItemSize refuses an item over DynamoDB's limit, before sending.
func checkItemSize(c Commit, item map[string]types.AttributeValue) error {
	if size := itemSize(item); size > maxItemBytes {
		meta := ""
		if m, ok := item[attrMetadata]; ok {
			meta = fmt.Sprintf(" (commit metadata %d bytes, which is never offloaded)", valueSize(m))
		}
		return fmt.Errorf("%w: aggregate %q version %d encodes to %d bytes%s, over DynamoDB's limit of %d",
			ErrCommitTooLarge, c.AggregateID, c.Version, size, meta, maxItemBytes)
	}
	return nil
}

// eventsJSON is the wire form of c's events.
func eventsJSON(c Commit) ([]byte, error) {
	raw, err := appendEventsJSON(make([]byte, 0, eventsSizeHint(c.Events)), c.Events)
	if err != nil {
		return nil, fmt.Errorf("eventstore: encode aggregate %q version %d: %w", c.AggregateID, c.Version, err)
	}
	return raw, nil
}

// packEvents returns the events attribute: plain JSON as a string
// attribute, readable in the console and cheapest to decode, unless
// DEFLATE-compressed JSON, as a binary attribute, makes the item cost fewer
// write units. overhead is the rest of the item's bytes. The attribute type
// tells the decoder which form it reads.
func packEvents(raw []byte, overhead int) types.AttributeValue {
	units := func(n int) int { return (n + overhead + writeUnitBytes - 1) / writeUnitBytes }
	if units(len(raw)) > 1 {
		if packed := deflate(raw); units(len(packed)) < units(len(raw)) {
			return &types.AttributeValueMemberB{Value: packed}
		}
	}
	return &types.AttributeValueMemberS{Value: string(raw)}
}

// overhead is an upper bound of c's item bytes besides its events.
func overhead(c Commit) int {
	n := itemOverhead + len(c.AggregateID)
	for k, v := range c.Metadata {
		n += len(k) + len(v) + 1
	}
	return n
}

// appendEventsJSON writes the wire form by hand so that Data is kept byte
// for byte (encoding/json would compact it and escape HTML characters).
func appendEventsJSON(b []byte, events []Event) ([]byte, error) {
	b = append(b, '[')
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"t":`...)
		b = appendJSONString(b, e.Type)
		if len(e.Data) > 0 {
			b = append(b, `,"d":`...)
			b = append(b, e.Data...)
		}
		if len(e.Metadata) > 0 {
			m, err := json.Marshal(e.Metadata)
			if err != nil {
				return nil, err
			}
			b = append(b, `,"m":`...)
			b = append(b, m...)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendJSONString appends s as a JSON string, as json.Marshal would,
// without reflection when s needs no escape.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func eventsSizeHint(events []Event) int {
	n := 2
	for _, e := range events {
		n += 16 + len(e.Type) + len(e.Data) + 32*len(e.Metadata)
	}
	return n
}

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed) // only fails on a bad level
	return w
}}

var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

func deflate(raw []byte) []byte {
	buf := bytes.NewBuffer(make([]byte, 0, len(raw)/2))
	w := deflaters.Get().(*flate.Writer)
	w.Reset(buf)
	w.Write(raw) // writes to a bytes.Buffer do not fail
	w.Close()
	deflaters.Put(w)
	return buf.Bytes()
}

// decodeEvents decodes the events attribute of an item, or an offloaded
// blob (binary). What it may decode to is bounded as the store bounds what
// it writes: at most maxEventsBytes of JSON (the largest
// Config.MaxCommitBytes) and maxCommitEvents events. Both are checked as
// the payload inflates, before the events are decoded, so a small
// payload that inflates to many events (a compression bomb) fails having
// inflated and allocated little of it.
func decodeEvents(av types.AttributeValue) ([]Event, error) {
	var raw []byte
	var count elementCounter
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		if len(v.Value) > maxEventsBytes {
			return nil, fmt.Errorf("events: %d bytes, over the limit of %d", len(v.Value), maxEventsBytes)
		}
		raw = []byte(v.Value)
		if err := count.check(raw); err != nil {
			return nil, err
		}
	case *types.AttributeValueMemberB:
		var err error
		if raw, err = inflate(v.Value, &count); err != nil {
			return nil, err
		}
	case nil:
		return nil, fmt.Errorf("events: missing")
	default:
		return nil, fmt.Errorf("events: attribute of type %T", av)
	}
	wire := make([]wireEvent, 0, count.elements())
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, fmt.Errorf("events: %v", err)
	}
	if len(wire) == 0 {
		return nil, fmt.Errorf("events: none")
	}
	events := make([]Event, len(wire))
	for i, w := range wire {
		// JSON decoding has checked the syntax of Data and made Type and
		// Metadata UTF-8; Data keeps its raw bytes, which a binary payload
		// may have left invalid.
		switch {
		case w.Type == "":
			return nil, fmt.Errorf("event %d: no type", i)
		case !utf8.Valid(w.Data):
			return nil, fmt.Errorf("event %d: data is not UTF-8", i)
		}
		if len(w.Metadata) == 0 {
			w.Metadata = nil // as the encoder omits it
		}
		events[i] = Event(w)
	}
	return events, nil
}

// inflate decompresses a DEFLATE payload, failing as soon as it passes
// maxEventsBytes or count finds more than maxCommitEvents elements in it.
func inflate(payload []byte, count *elementCounter) ([]byte, error) {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	r.(flate.Resetter).Reset(bytes.NewReader(payload), nil)
	raw := make([]byte, 0, min(4*len(payload)+512, maxEventsBytes+1))
	for {
		if len(raw) == cap(raw) {
			raw = append(raw, 0)[:len(raw)] // grows it as io.ReadAll does
		}
		n, err := r.Read(raw[len(raw):cap(raw)])
		raw = raw[:len(raw)+n]
		if len(raw) > maxEventsBytes {
			return nil, fmt.Errorf("events: inflate to more than %d bytes", maxEventsBytes)
		}
		if err := count.check(raw); err != nil {
			return nil, err
		}
		switch {
		case err == io.EOF:
			return raw, nil
		case err != nil:
			return nil, fmt.Errorf("events: inflate: %v", err)
		}
	}
}

// minElementBytes is the fewest bytes an element of a JSON array takes,
// its comma included ("1,"): an array of n bytes has at most
// n/minElementBytes elements, so one of up to
// maxCommitEvents*minElementBytes bytes needs no counting.
const minElementBytes = 2

// elementCounter counts the elements of a JSON array as its bytes come
// in: the commas outside strings at the array's top level. It is a bound
// for what decoding the array would allocate, not a validator: JSON
// decoding checks the syntax afterwards.
type elementCounter struct {
	scanned  int // bytes of the payload counted so far
	commas   int
	depth    int
	inString bool
	escaped  bool
}

// check counts the elements in the bytes of raw not yet counted, once raw
// is long enough to hold more than maxCommitEvents of them, and fails if
// it has more.
func (c *elementCounter) check(raw []byte) error {
	if len(raw) <= maxCommitEvents*minElementBytes {
		return nil
	}
	c.scan(raw[c.scanned:])
	c.scanned = len(raw)
	if c.commas >= maxCommitEvents {
		return fmt.Errorf("events: more than %d, the most a commit holds", maxCommitEvents)
	}
	return nil
}

// elements is how many elements were counted, an upper bound: 0 if the
// payload was too short to need counting.
func (c *elementCounter) elements() int {
	if c.scanned == 0 {
		return 0
	}
	return c.commas + 1
}

func (c *elementCounter) scan(b []byte) {
	for _, ch := range b {
		switch {
		case c.escaped:
			c.escaped = false
		case c.inString:
			switch ch {
			case '\\':
				c.escaped = true
			case '"':
				c.inString = false
			}
		case ch == '"':
			c.inString = true
		case ch == '[' || ch == '{':
			c.depth++
		case ch == ']' || ch == '}':
			c.depth--
		case ch == ',' && c.depth == 1:
			c.commas++
		}
	}
}

// itemSize is an upper bound of DynamoDB's size of an item: attribute names
// plus values, numbers counted at their largest (21 bytes), maps and lists
// with their 3-byte overhead and 1 byte per element.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return 21
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	default:
		return 1
	}
}
