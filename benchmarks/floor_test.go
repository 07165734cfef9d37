package benchmarks

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// The floor: a bare aws-sdk-go-v2 loop that writes the items the store
// writes (same key, attributes and events encoding) with the simplest
// condition, attribute_not_exists(aggregateId), and reads them back with
// one Query per page, decoding the attributes only. No Go client can do
// less. BenchmarkFloor runs it next to the store in the same run and
// reports the store's cost as a multiple of it (x-bare-*). The goal is a
// client CPU of at most 1.10x the bare loop. The bare row runs first and
// DynamoDB Local's JIT still warms up: run with -count 3 or more and read
// the later rounds or the medians.

// bareEvent is an event as the store writes it in the events attribute.
type bareEvent struct {
	Type     string            `json:"t"`
	Data     json.RawMessage   `json:"d,omitempty"`
	Metadata map[string]string `json:"m,omitempty"`
}

// bareItem is the item of a commit, as the store builds it with its
// default Config: the events as a JSON string, or DEFLATE-compressed
// (BestSpeed) as binary when that costs fewer write units, and the
// aggregateShard attribute on version 0.
func bareItem(id string, version int64, events []eventstore.Event, shards int) map[string]types.AttributeValue {
	wire := make([]bareEvent, len(events))
	for i, e := range events {
		wire[i] = bareEvent{Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	raw, _ := json.Marshal(wire)
	h := fnv.New32a()
	h.Write([]byte(id))
	shard := &types.AttributeValueMemberN{Value: strconv.Itoa(int(h.Sum32() % uint32(shards)))}
	item := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: id},
		"version":     &types.AttributeValueMemberN{Value: strconv.FormatInt(version, 10)},
		"commitId":    &types.AttributeValueMemberS{Value: ulid.Make().String()},
		"committedAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
		"shard":       shard,
		"events":      bareEvents(raw, 160+len(id)),
	}
	if version == 0 {
		item["aggregateShard"] = shard
	}
	return item
}

// bareDeflaters reuses DEFLATE writers, which allocate about 1 MB each,
// as the store does.
var bareDeflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// bareInflaters reuses DEFLATE readers.
var bareInflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

func bareEvents(raw []byte, overhead int) types.AttributeValue {
	units := func(n int) int { return (n + overhead + 1023) / 1024 }
	if units(len(raw)) > 1 {
		var buf bytes.Buffer
		w := bareDeflaters.Get().(*flate.Writer)
		w.Reset(&buf)
		w.Write(raw)
		w.Close()
		bareDeflaters.Put(w)
		if units(buf.Len()) < units(len(raw)) {
			return &types.AttributeValueMemberB{Value: buf.Bytes()}
		}
	}
	return &types.AttributeValueMemberS{Value: string(raw)}
}

// barePut writes item if its key is free.
func barePut(ctx context.Context, client *dynamodb.Client, table string, item map[string]types.AttributeValue) error {
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(aggregateId)"),
	})
	return err
}

// bareDecode decodes the attributes of a commit item.
func bareDecode(item map[string]types.AttributeValue) (eventstore.Commit, error) {
	var c eventstore.Commit
	var err error
	s := func(name string) string {
		v, _ := item[name].(*types.AttributeValueMemberS)
		if v == nil {
			err = fmt.Errorf("no %s", name)
			return ""
		}
		return v.Value
	}
	n := func(name string) int64 {
		v, _ := item[name].(*types.AttributeValueMemberN)
		if v == nil {
			err = fmt.Errorf("no %s", name)
			return 0
		}
		i, e := strconv.ParseInt(v.Value, 10, 64)
		if e != nil {
			err = e
		}
		return i
	}
	c.AggregateID, c.Version, c.CommitID = s("aggregateId"), n("version"), s("commitId")
	c.CommittedAt = time.UnixMilli(n("committedAt"))
	var raw []byte
	switch v := item["events"].(type) {
	case *types.AttributeValueMemberS:
		raw = []byte(v.Value)
	case *types.AttributeValueMemberB:
		r := bareInflaters.Get().(io.ReadCloser)
		r.(flate.Resetter).Reset(bytes.NewReader(v.Value), nil)
		raw, err = io.ReadAll(r)
		bareInflaters.Put(r)
		if err != nil {
			return c, err
		}
	}
	var wire []bareEvent
	if e := json.Unmarshal(raw, &wire); e != nil {
		return c, e
	}
	c.Events = make([]eventstore.Event, len(wire))
	for i, e := range wire {
		c.Events[i] = eventstore.Event{Type: e.Type, Data: e.Data, Metadata: e.Metadata}
	}
	return c, err
}

// bareQuery reads the commits of in's key condition, page by page, and
// returns the number of events.
func bareQuery(ctx context.Context, client *dynamodb.Client, in dynamodb.QueryInput) (int, error) {
	events := 0
	for {
		out, err := client.Query(ctx, &in)
		if err != nil {
			return 0, err
		}
		for _, item := range out.Items {
			c, err := bareDecode(item)
			if err != nil {
				return 0, err
			}
			events += len(c.Events)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return events, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func aggregateQuery(table, id string) dynamodb.QueryInput {
	return dynamodb.QueryInput{
		TableName:                 aws.String(table),
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#a = :a AND #v >= :v"),
		ExpressionAttributeNames:  map[string]string{"#a": "aggregateId", "#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: id}, ":v": &types.AttributeValueMemberN{Value: "0"}},
	}
}

func shardQuery(table string, shard int) dynamodb.QueryInput {
	return dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String(eventstore.DefaultIndex),
		KeyConditionExpression:    aws.String("#s = :s"),
		ExpressionAttributeNames:  map[string]string{"#s": "shard"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)}},
	}
}

// floorPair runs bare and then store as sub-benchmarks of b, measuring
// each op's latency and the client and server CPU per op, and reports the
// store's figures as multiples of the bare loop's. perOp is the number of
// commits one op handles.
func floorPair(b *testing.B, name string, perOp int, bare, store func(b *testing.B) error) {
	var floor struct{ ns, client, server float64 }
	measure := func(b *testing.B, fn func(b *testing.B) error) (ns, client, server float64) {
		b.ReportAllocs()
		start := TakeCost()
		if err := fn(b); err != nil {
			b.Fatal(err)
		}
		d := start.Since()
		ops := b.N * perOp
		d.Report(b, ops)
		return b.Elapsed().Seconds() / float64(b.N) * 1e9, d.Client / float64(ops), d.Server / float64(ops)
	}
	b.Run(name+"/bare", func(b *testing.B) {
		floor.ns, floor.client, floor.server = measure(b, bare)
	})
	b.Run(name+"/store", func(b *testing.B) {
		ns, client, server := measure(b, store)
		if floor.client > 0 {
			b.ReportMetric(client/floor.client, "x-bare-client-cpu")
		}
		if floor.server > 0 {
			b.ReportMetric(server/floor.server, "x-bare-server-cpu")
		}
		if floor.ns > 0 {
			b.ReportMetric(ns/floor.ns, "x-bare-latency")
		}
	})
}

// newFloorTable returns a store with its default Config on a fresh table
// and a plain client of that table (no Meter: the metering would cost
// client CPU).
func newFloorTable(b *testing.B) (*eventstore.Store, *dynamodb.Client, string) {
	client := dynamotest.Client(b)
	table := dynamotest.TableName(b, client)
	store, _ := dynamotest.NewStore(b, eventstore.Config{Table: table})
	return store, client, table
}

// BenchmarkFloor compares Append (1 writer: ns/op is the latency of one
// commit), Query (an aggregate of 1,000 events) and Scan (20,000 events
// in 2,000 commits, 4 shards) with the bare loop, in the same run.
// client-µs/op and server-µs/op are per commit; the x-bare-* metrics of a
// store row are its figures divided by the bare row's just before it.
func BenchmarkFloor(b *testing.B) {
	warmUp(b)
	ctx := context.Background()
	payloads := Payloads(1000)
	for _, events := range []int{1, 10} {
		_, client, bareTable := newFloorTable(b)
		store, _, _ := newFloorTable(b)
		n := 0
		next := func() (string, int64, []eventstore.Event) {
			n++
			return fmt.Sprintf("account#%d", n/10), int64(n % 10), Events(payloads, n*events, events)
		}
		floorPair(b, fmt.Sprintf("Append/events=%d", events), 1,
			func(b *testing.B) error {
				for b.Loop() {
					id, v, evs := next()
					if err := barePut(ctx, client, bareTable, bareItem(id, v, evs, eventstore.DefaultScanShards)); err != nil {
						return err
					}
				}
				return nil
			},
			func(b *testing.B) error {
				n = (n/10+1)*10 - 1 // a fresh aggregate, from version 0: the store refuses gaps
				for b.Loop() {
					id, v, evs := next()
					if _, err := store.Append(ctx, eventstore.Commit{AggregateID: id, Version: v, Events: evs}); err != nil {
						return err
					}
				}
				return nil
			})
	}
	for _, shape := range []struct{ commits, events int }{{1000, 1}, {100, 10}} {
		store, client, table := newFloorTable(b)
		fill(b, store, payloads, []string{"account#1"}, shape.commits, shape.events)
		read := func(got int, err error) error {
			if err == nil && got != 1000 {
				err = fmt.Errorf("read %d events, want 1000", got)
			}
			return err
		}
		floorPair(b, fmt.Sprintf("Query/commits=%d/events=%d", shape.commits, shape.events), shape.commits,
			func(b *testing.B) error {
				for b.Loop() {
					if err := read(bareQuery(ctx, client, aggregateQuery(table, "account#1"))); err != nil {
						return err
					}
				}
				return nil
			},
			func(b *testing.B) error {
				for b.Loop() {
					if err := read(countEvents(store.Query(ctx, "account#1", 0))); err != nil {
						return err
					}
				}
				return nil
			})
	}
	const commits, perCommit = 2000, 10
	store, client, table := newFloorTable(b)
	ids := make([]string, commits)
	for i := range ids {
		ids[i] = fmt.Sprintf("account#%d", i)
	}
	fill(b, store, payloads, ids, 1, perCommit)
	want := func(got int, err error) error {
		if err == nil && got != commits*perCommit {
			err = fmt.Errorf("read %d events, want %d", got, commits*perCommit)
		}
		return err
	}
	floorPair(b, "Scan/shards=4", commits,
		func(b *testing.B) error {
			for b.Loop() {
				total := 0
				for shard := range eventstore.DefaultScanShards {
					n, err := bareQuery(ctx, client, shardQuery(table, shard))
					if err != nil {
						return err
					}
					total += n
				}
				if err := want(total, nil); err != nil {
					return err
				}
			}
			return nil
		},
		func(b *testing.B) error {
			for b.Loop() {
				if err := want(countEvents(store.Scan(ctx, "", eventstore.WithSettle(0)))); err != nil {
					return err
				}
			}
			return nil
		})
}

// countEvents drains a sequence of commits and counts their events.
func countEvents(commits func(yield func(eventstore.Commit, error) bool)) (int, error) {
	n := 0
	for c, err := range commits {
		if err != nil {
			return 0, err
		}
		n += len(c.Events)
	}
	return n, nil
}
