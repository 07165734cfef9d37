package eventstore_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/dynacommit/eventstore"
)

// opCall is one DynamoDB call a client made (its SDK retries not counted).
type opCall struct {
	Op    string // "PutItem", "Query", ...
	Input any    // *dynamodb.PutItemInput, ...
}

// opLog records the calls of the clients given its option.
type opLog struct {
	mu    sync.Mutex
	calls []opCall
}

// option makes a client record its calls in l.
func (l *opLog) option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("opLog",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					l.mu.Lock()
					l.calls = append(l.calls, opCall{Op: awsmiddleware.GetOperationName(ctx), Input: in.Parameters})
					l.mu.Unlock()
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	}
}

// take returns the calls recorded since the last take.
func (l *opLog) take() []opCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := l.calls
	l.calls = nil
	return calls
}

// ops returns the names of the calls recorded since the last take.
func (l *opLog) ops() []string {
	var names []string
	for _, c := range l.take() {
		names = append(names, c.Op)
	}
	return names
}

// viaTransport makes a client send its requests through rt.
func viaTransport(rt http.RoundTripper) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: rt} }
}

// hookClient lets a test act around the PutItem and TransactWriteItems
// calls of a store; other calls go straight to the embedded client.
type hookClient struct {
	eventstore.DynamoDBAPI
	put      func(ctx context.Context, in *dynamodb.PutItemInput, send func() (*dynamodb.PutItemOutput, error)) (*dynamodb.PutItemOutput, error)
	transact func(ctx context.Context, in *dynamodb.TransactWriteItemsInput, send func() (*dynamodb.TransactWriteItemsOutput, error)) (*dynamodb.TransactWriteItemsOutput, error)
}

func (h *hookClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	send := func() (*dynamodb.PutItemOutput, error) { return h.DynamoDBAPI.PutItem(ctx, in, optFns...) }
	if h.put == nil {
		return send()
	}
	return h.put(ctx, in, send)
}

func (h *hookClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	send := func() (*dynamodb.TransactWriteItemsOutput, error) {
		return h.DynamoDBAPI.TransactWriteItems(ctx, in, optFns...)
	}
	if h.transact == nil {
		return send()
	}
	return h.transact(ctx, in, send)
}

// observations is an Observer that keeps what it hears.
type observations struct {
	mu   sync.Mutex
	list []eventstore.Observation
}

func (o *observations) Observe(_ context.Context, ob eventstore.Observation) {
	o.mu.Lock()
	o.list = append(o.list, ob)
	o.mu.Unlock()
}

// take returns the observations of op heard since the last take (of any op).
func (o *observations) take(op eventstore.Op) []eventstore.Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []eventstore.Observation
	for _, ob := range o.list {
		if ob.Op == op {
			out = append(out, ob)
		}
	}
	o.list = nil
	return out
}

// storeOn returns a store of cfg on the table of an existing store, with
// client.
func storeOn(tb testing.TB, client eventstore.DynamoDBAPI, table string, cfg eventstore.Config) *eventstore.Store {
	tb.Helper()
	cfg.Table = table
	s, err := eventstore.New(client, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
