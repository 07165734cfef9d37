package benchmarks

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// Meter is an eventstore.DynamoDBAPI that passes every call to the client it
// wraps, asks DynamoDB for the capacity each item operation consumes
// (ReturnConsumedCapacity TOTAL: table and indexes), and adds up requests
// and capacity units. A call the SDK retries counts as one request. Calls
// outside PutItem, GetItem and Query pass through uncounted. It is safe for
// concurrent use.
type Meter struct {
	eventstore.DynamoDBAPI

	mu    sync.Mutex
	usage Usage
}

// Usage is what a Meter counted.
type Usage struct {
	Requests int64
	WCU, RCU float64 // consumed write and read capacity units
}

var _ eventstore.DynamoDBAPI = (*Meter)(nil)

// NewMeter returns a Meter on client.
func NewMeter(client eventstore.DynamoDBAPI) *Meter {
	return &Meter{DynamoDBAPI: client}
}

// Usage returns what the meter counted since it was made or reset.
func (m *Meter) Usage() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usage
}

// Reset sets the counts to zero.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usage = Usage{}
}

func (m *Meter) add(write bool, cc *types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usage.Requests++
	if cc == nil || cc.CapacityUnits == nil {
		return
	}
	if write {
		m.usage.WCU += *cc.CapacityUnits
	} else {
		m.usage.RCU += *cc.CapacityUnits
	}
}

// PutItem counts a request and the write capacity it consumed.
func (m *Meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	metered := *in
	metered.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.DynamoDBAPI.PutItem(ctx, &metered, optFns...)
	var cc *types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	m.add(true, cc)
	return out, err
}

// GetItem counts a request and the read capacity it consumed.
func (m *Meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	metered := *in
	metered.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.DynamoDBAPI.GetItem(ctx, &metered, optFns...)
	var cc *types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	m.add(false, cc)
	return out, err
}

// Query counts a request and the read capacity it consumed.
func (m *Meter) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	metered := *in
	metered.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.DynamoDBAPI.Query(ctx, &metered, optFns...)
	var cc *types.ConsumedCapacity
	if out != nil {
		cc = out.ConsumedCapacity
	}
	m.add(false, cc)
	return out, err
}

// Report adds to b the metrics of work done since the last Reset: events/s
// over b's elapsed time, requests per commit, and write and read capacity
// units per event (those that are not zero). commits and events count the
// whole benchmark, all iterations.
func (u Usage) Report(b *testing.B, commits, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
	if commits > 0 {
		b.ReportMetric(float64(u.Requests)/float64(commits), "requests/commit")
	}
	if events > 0 && u.WCU > 0 {
		b.ReportMetric(u.WCU/float64(events), "WCU/event")
	}
	if events > 0 && u.RCU > 0 {
		b.ReportMetric(u.RCU/float64(events), "RCU/event")
	}
}
