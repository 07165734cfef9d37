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
// less. BenchmarkFloor runs it in turns with the store in the same run and
// reports the store's cost as a multiple of it (x-bare-*). The goal is a
// client CPU of at most 1.10x the bare loop. Run with -count 3 or more and
// read the medians.

// bareEvent is an event as the store writes it in the events attribute.
type bareEvent struct {
	Type     string            `json:"t"`
	Data     json.RawMessage   `json:"d,omitempty"`
	Metadata map[string]string `json:"m,omitempty"`
}

// bareItem is the item of a commit, as the store builds it with its
// default Config: the events as a JSON string, or DEFLATE-compressed
// (BestSpeed) as binary when that costs fewer write units, the
// aggregateShard attribute on version 0, and on a later version prev, the
// CommitID of the version before (any ULID here: it costs the same).
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
	} else {
		item["prev"] = &types.AttributeValueMemberS{Value: ulid.Make().String()}
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

// floorPair runs bare and store in turns, block ops of one and then
// block ops of the other, over and over, as one benchmark: DynamoDB
// Local's JIT keeps warming and the machine's load changes during a run,
// and taking turns lets both fall on the two sides alike (running one side
// after the other biased the ratios by 10 to 20 %). An op of the
// benchmark is one op of each side (ns/op is their sum). It reports each
// side's latency and client and server CPU per commit (perOp commits per
// op), and the store's as multiples of the bare loop's (x-bare-*).
func floorPair(b *testing.B, name string, perOp, block int, bare, store func() error) {
	b.Run(name, func(b *testing.B) {
		sides := [2]func() error{bare, store}
		var spent [2]CostDelta
		start := TakeCost()
		for done := 0; done < b.N; done += block {
			for i, side := range sides {
				at := TakeCost()
				for range min(block, b.N-done) {
					if err := side(); err != nil {
						b.Fatal(err)
					}
				}
				d := at.Since()
				spent[i].Seconds += d.Seconds
				spent[i].Client += d.Client
				spent[i].Server += d.Server
			}
		}
		all := start.Since()
		commits := float64(b.N * perOp)
		per := func(v float64) float64 { return v / commits * 1e6 }
		for i, label := range []string{"bare", "store"} {
			b.ReportMetric(per(spent[i].Client), label+"-client-µs/op")
			b.ReportMetric(per(spent[i].Server), label+"-server-µs/op")
			b.ReportMetric(spent[i].Seconds/float64(b.N)*1e9, label+"-ns/op")
		}
		ratio := func(store, bare float64) float64 {
			if bare == 0 {
				return 0
			}
			return store / bare
		}
		b.ReportMetric(ratio(spent[1].Client, spent[0].Client), "x-bare-client-cpu")
		b.ReportMetric(ratio(spent[1].Server, spent[0].Server), "x-bare-server-cpu")
		b.ReportMetric(ratio(spent[1].Seconds, spent[0].Seconds), "x-bare-latency")
		if all.Seconds > 0 {
			b.ReportMetric(all.Other/all.Seconds, "other-load-cores")
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

// BenchmarkFloor compares Append (1 writer: bare-ns/op and store-ns/op
// are the latency of one commit), Query (an aggregate of 1,000 events) and
// Scan (20,000 events in 2,000 commits, 4 shards) with the bare loop, the
// two taking turns in one run (see floorPair). The *-client-µs/op and
// *-server-µs/op metrics are per commit; x-bare-* are the store's figures
// divided by the bare loop's.
func BenchmarkFloor(b *testing.B) {
	warmUp(b)
	ctx := context.Background()
	payloads := Payloads(1000)
	for _, events := range []int{1, 10} {
		_, client, bareTable := newFloorTable(b)
		store, _, _ := newFloorTable(b)
		// Each side writes 10 versions of an aggregate, from version 0 (the
		// store refuses gaps), then the next aggregate.
		var bareN, storeN int
		next := func(n *int) (string, int64, []eventstore.Event) {
			i := *n
			*n++
			return fmt.Sprintf("account#%d", i/10), int64(i % 10), Events(payloads, i*events, events)
		}
		floorPair(b, fmt.Sprintf("Append/events=%d", events), 1, 20,
			func() error {
				id, v, evs := next(&bareN)
				return barePut(ctx, client, bareTable, bareItem(id, v, evs, eventstore.DefaultScanShards))
			},
			func() error {
				id, v, evs := next(&storeN)
				_, err := store.Append(ctx, eventstore.Commit{AggregateID: id, Version: v, Events: evs})
				return err
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
		floorPair(b, fmt.Sprintf("Query/commits=%d/events=%d", shape.commits, shape.events), shape.commits, 2,
			func() error { return read(bareQuery(ctx, client, aggregateQuery(table, "account#1"))) },
			func() error { return read(countEvents(store.Query(ctx, "account#1", 0))) })
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
	floorPair(b, "Scan/shards=4", commits, 1,
		func() error {
			total := 0
			for shard := range eventstore.DefaultScanShards {
				n, err := bareQuery(ctx, client, shardQuery(table, shard))
				if err != nil {
					return err
				}
				total += n
			}
			return want(total, nil)
		},
		func() error { return want(countEvents(store.Scan(ctx, "", eventstore.WithSettle(0)))) })
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
