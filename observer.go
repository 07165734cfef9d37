package eventstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Observer receives one Observation per store operation, for metrics and
// logs (see Config.Observer). Observe is called synchronously on the
// operation's goroutine, after the operation and before it returns, so it
// must be quick; it must be safe for concurrent use.
type Observer interface {
	Observe(ctx context.Context, o Observation)
}

// Op names the store operation an Observation reports.
type Op string

// The operations an Observer hears of. A write, LatestVersion and
// CreateTable are reported once per call, Aggregates once per run of its
// sequence. Query, Scan and Tail are reported once per page request (Tail
// and Scan as OpScan), since a sequence may never end. Any other request
// (the shard-count check of Scan and Tail) is reported under the name of
// its DynamoDB operation, such as "GetItem".
const (
	OpAppend        Op = "Append"
	OpAppendAll     Op = "AppendAll"
	OpAppendNext    Op = "AppendNext"
	OpAppendNew     Op = "AppendNew"
	OpLatestVersion Op = "LatestVersion"
	OpAggregates    Op = "Aggregates"
	OpCreateTable   Op = "CreateTable"
	OpQuery         Op = "Query"
	OpScan          Op = "Scan"
)

// Observation is what one operation did.
type Observation struct {
	Op       Op
	Duration time.Duration
	// Requests is the number of DynamoDB requests sent; Retries the
	// attempts beyond the first: the SDK's retries of each request, plus
	// the store's own (AppendAll resending its transaction, AppendNext
	// appending again after a conflict).
	Requests, Retries int
	// ReadUnits and WriteUnits are the capacity units DynamoDB reported
	// consumed, table and indexes together. A request that fails (a
	// condition check that fails included) reports none, although it is
	// billed.
	ReadUnits, WriteUnits float64
	// Commits is the number of commits stored (writes) or read (reads).
	Commits int
	// Conflicts counts version conflicts met, including those AppendNext
	// retried past; Duplicates the commits found already stored by an
	// earlier attempt of the same commit (idempotent retries recognised);
	// LateRefusals the commits refused by the writer deadline
	// (ErrCommitDeadline).
	Conflicts, Duplicates, LateRefusals int
	// LateLandings counts the commits stored that Append learned of only
	// after their writer deadline (Commit.LandedLate).
	LateLandings int
	// ScanLag, for OpScan, is how far the page read lags behind now: the
	// age of its newest commit. Zero for an empty page.
	ScanLag time.Duration
	// Err is the operation's error, nil on success.
	Err error
}

// tally accumulates what the requests of one operation did. A nil *tally
// (no Observer) ignores everything.
type tally struct {
	mu    sync.Mutex
	start time.Time
	o     Observation
}

type tallyKey struct{}

// observe starts the tally of op when the store has an Observer; the
// requests sent with the returned ctx add to it.
func (s *Store) observe(ctx context.Context, op Op) (context.Context, *tally) {
	if s.cfg.Observer == nil {
		return ctx, nil
	}
	t := &tally{start: time.Now(), o: Observation{Op: op}}
	return context.WithValue(ctx, tallyKey{}, t), t
}

func tallyOf(ctx context.Context) *tally {
	t, _ := ctx.Value(tallyKey{}).(*tally)
	return t
}

func (t *tally) add(f func(o *Observation)) {
	if t == nil {
		return
	}
	t.mu.Lock()
	f(&t.o)
	t.mu.Unlock()
}

// note adds to the tally of ctx's operation, if it has one.
func note(ctx context.Context, f func(o *Observation)) { tallyOf(ctx).add(f) }

// done reports the operation to the Observer and returns err unchanged.
func (s *Store) done(ctx context.Context, t *tally, commits int, err error) error {
	if t == nil {
		return err
	}
	t.mu.Lock()
	o := t.o
	t.mu.Unlock()
	o.Duration, o.Commits, o.Err = time.Since(t.start), commits, err
	s.cfg.Observer.Observe(ctx, o)
	return err
}

// stored is the number of commits an append of n commits stored, given its
// error: all of them, or none.
func stored(err error, n int) int {
	var notified *NotifyError
	if err == nil || errors.As(err, &notified) {
		return n
	}
	return 0
}

// observedClient is the store's client when it has an Observer: it asks
// DynamoDB for the consumed capacity, counts attempts, and adds each
// request to its operation's tally, or reports it alone when it belongs to
// none (the pages of Query and Scan).
type observedClient struct {
	next DynamoDBAPI
	s    *Store
}

var _ DynamoDBAPI = (*observedClient)(nil)

// call runs one request: send does it with the extra options and returns
// the consumed capacity and, for scan pages, the newest CommitID read.
func (c *observedClient) call(ctx context.Context, op Op, write bool, optFns []func(*dynamodb.Options),
	send func([]func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error)) {
	start := time.Now()
	attempts := 0
	optFns = append(optFns[:len(optFns):len(optFns)], func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("eventstoreAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					attempts++ // attempts of one request are sequential
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	})
	consumed, newest, err := send(optFns)
	units := 0.0
	for _, cc := range consumed {
		units += aws.ToFloat64(cc.CapacityUnits)
	}
	add := func(o *Observation) {
		o.Requests++
		o.Retries += max(attempts-1, 0)
		if write {
			o.WriteUnits += units
		} else {
			o.ReadUnits += units
		}
	}
	if t := tallyOf(ctx); t != nil {
		t.add(add)
		return
	}
	o := Observation{Op: op, Duration: time.Since(start), Err: err}
	add(&o)
	if id, err := parseCommitID(newest); err == nil && op == OpScan {
		o.ScanLag = c.s.cfg.now().Sub(commitTime(id))
	}
	c.s.cfg.Observer.Observe(ctx, o)
}

func (c *observedClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.PutItemOutput, err error) {
	if in.ReturnConsumedCapacity == "" { // ask for it on a copy: the caller's input is not changed
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	c.call(ctx, "PutItem", true, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.PutItem(ctx, in, opts...)
		if err != nil {
			return nil, "", err
		}
		return capacity(out.ConsumedCapacity), "", nil
	})
	return out, err
}

func (c *observedClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	if in.ReturnConsumedCapacity == "" { // ask for it on a copy: the caller's input is not changed
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	c.call(ctx, "UpdateItem", true, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.UpdateItem(ctx, in, opts...)
		if err != nil {
			return nil, "", err
		}
		return capacity(out.ConsumedCapacity), "", nil
	})
	return out, err
}

func (c *observedClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.TransactWriteItemsOutput, err error) {
	if in.ReturnConsumedCapacity == "" { // ask for it on a copy: the caller's input is not changed
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	c.call(ctx, "TransactWriteItems", true, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.TransactWriteItems(ctx, in, opts...)
		if err != nil {
			return nil, "", err
		}
		return out.ConsumedCapacity, "", nil
	})
	return out, err
}

func (c *observedClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.GetItemOutput, err error) {
	if in.ReturnConsumedCapacity == "" { // ask for it on a copy: the caller's input is not changed
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	c.call(ctx, "GetItem", false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.GetItem(ctx, in, opts...)
		if err != nil {
			return nil, "", err
		}
		return capacity(out.ConsumedCapacity), "", nil
	})
	return out, err
}

func (c *observedClient) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.QueryOutput, err error) {
	op := OpQuery
	if aws.ToString(in.IndexName) == c.s.cfg.Index {
		op = OpScan
	}
	if in.ReturnConsumedCapacity == "" {
		cp := *in
		cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		in = &cp
	}
	c.call(ctx, op, false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.Query(ctx, in, opts...)
		if err != nil {
			return nil, "", err
		}
		newest := ""
		if n := len(out.Items); n > 0 {
			newest, _ = stringAttr(out.Items[n-1], attrCommitID)
		}
		return capacity(out.ConsumedCapacity), newest, nil
	})
	return out, err
}

func (c *observedClient) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.CreateTableOutput, err error) {
	c.call(ctx, "CreateTable", false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.CreateTable(ctx, in, opts...)
		return nil, "", err
	})
	return out, err
}

func (c *observedClient) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.DescribeTableOutput, err error) {
	c.call(ctx, "DescribeTable", false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.DescribeTable(ctx, in, opts...)
		return nil, "", err
	})
	return out, err
}

func (c *observedClient) DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.DescribeTimeToLiveOutput, err error) {
	c.call(ctx, "DescribeTimeToLive", false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.DescribeTimeToLive(ctx, in, opts...)
		return nil, "", err
	})
	return out, err
}

func (c *observedClient) UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (out *dynamodb.UpdateTimeToLiveOutput, err error) {
	c.call(ctx, "UpdateTimeToLive", false, optFns, func(opts []func(*dynamodb.Options)) ([]types.ConsumedCapacity, string, error) {
		out, err = c.next.UpdateTimeToLive(ctx, in, opts...)
		return nil, "", err
	})
	return out, err
}

func capacity(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}
