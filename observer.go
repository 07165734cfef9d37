package eventstore

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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
	// OpUpdate is one Update or UpdateFrom: its loads' requests, its
	// attempts beyond the first as Retries, the conflicts it met, and the
	// commit it appended last; each Append it makes is reported too.
	OpUpdate Op = "Update"
	// OpLoad is one Load (LoadFold, UpdateFrom's load): the newest
	// snapshot's read and the pages of the commits after it together.
	OpLoad Op = "Load"
	// OpSaveSnapshot, OpDelete and OpExpire are one call each of
	// SaveSnapshot, Delete and Expire.
	OpSaveSnapshot Op = "SaveSnapshot"
	OpDelete       Op = "Delete"
	OpExpire       Op = "Expire"
)

// Observation is what one operation did.
type Observation struct {
	Op       Op
	Duration time.Duration
	// Table is the store's table (Config.Table).
	Table string
	// AggregateID, Version and CommitID name the commit of an Append,
	// AppendNext or AppendNew, as last sent to DynamoDB: the one stored, or
	// the one refused (a conflict, a late refusal). AggregateID alone names
	// the aggregate of a Query page or a LatestVersion. They are empty (and
	// Version 0) for the other operations, AppendAll included (Commits
	// counts its commits), and for an operation that sent no request (an
	// invalid commit).
	AggregateID string
	Version     int64
	CommitID    string
	// Requests is the number of DynamoDB requests sent; Retries the
	// attempts beyond the first: the SDK's retries of each request, plus
	// the store's own (AppendAll resending its transaction, AppendNext
	// appending again after a conflict).
	Requests, Retries int
	// Throttles counts the attempts DynamoDB refused for throughput
	// (ProvisionedThroughputExceededException, ThrottlingException and the
	// other errors the SDK's retryer classes as throttling), retried or
	// not.
	Throttles int
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
	t := &tally{start: time.Now(), o: Observation{Op: op, Table: s.cfg.Table}}
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

// pageOpKey marks the requests of a sequence (the pages of Query, Scan and
// Tail), which are reported one by one under the operation it holds.
type pageOpKey struct{}

// pagesOf returns ctx for the page requests of op.
func pagesOf(ctx context.Context, op Op) context.Context {
	return context.WithValue(ctx, pageOpKey{}, op)
}

type attemptsKey struct{}

// attempts counts the attempts of one request, and those throttled.
type attempts struct{ sent, throttled int }

// observeRequests is the client option of a store with an Observer: SDK
// middleware that asks DynamoDB for the consumed capacity, counts the
// attempts of each request, and adds the request to its operation's tally,
// or reports it alone when it belongs to none (the pages of Query and
// Scan, the shard-count check). A DynamoDBAPI that wraps a
// *dynamodb.Client must pass the options it is given on.
func (s *Store) observeRequests(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("eventstoreObserve", s.observeRequest), middleware.After)
		if err != nil {
			return err
		}
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("eventstoreAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				n, ok := ctx.Value(attemptsKey{}).(*attempts)
				if !ok {
					return next.HandleFinalize(ctx, in)
				}
				n.sent++ // the attempts of one request are sequential
				out, md, err := next.HandleFinalize(ctx, in)
				if err != nil && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
					n.throttled++
				}
				return out, md, err
			}), middleware.After)
	})
}

func (s *Store) observeRequest(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	in.Parameters = withCapacity(in.Parameters)
	start, n := time.Now(), new(attempts)
	out, md, err := next.HandleInitialize(context.WithValue(ctx, attemptsKey{}, n), in)
	units, newest := consumed(out.Result)
	write := writes(awsmiddleware.GetOperationName(ctx))
	add := func(o *Observation) {
		o.Requests++
		o.Retries += max(n.sent-1, 0)
		o.Throttles += n.throttled
		switch o.Op {
		case OpAppend, OpAppendNext, OpAppendNew:
			o.AggregateID, o.Version, o.CommitID = sentCommit(in.Parameters, o.AggregateID, o.Version, o.CommitID)
		case OpQuery, OpLatestVersion:
			o.AggregateID = queriedAggregate(in.Parameters)
		}
		if write {
			o.WriteUnits += units
		} else {
			o.ReadUnits += units
		}
	}
	if t := tallyOf(ctx); t != nil {
		t.add(add)
		return out, md, err
	}
	op, _ := ctx.Value(pageOpKey{}).(Op)
	if op == "" {
		op = Op(awsmiddleware.GetOperationName(ctx))
	}
	o := Observation{Op: op, Duration: time.Since(start), Table: s.cfg.Table, Err: err}
	add(&o)
	if id, err := parseCommitID(newest); err == nil && op == OpScan {
		o.ScanLag = s.cfg.now().Sub(commitTime(id))
	}
	s.cfg.Observer.Observe(ctx, o)
	return out, md, err
}

// sentCommit returns the key and CommitID of the commit a request of a
// single-commit write sends: the item of a PutItem, the key of the
// UpdateItem that fences a late commit. Any other request leaves the
// aggregate, version and CommitID given unchanged.
func sentCommit(in any, aggregateID string, version int64, commitID string) (string, int64, string) {
	switch in := in.(type) {
	case *dynamodb.PutItemInput:
		a, aErr := stringAttr(in.Item, attrAggregateID)
		v, vErr := numberAttr(in.Item, attrVersion)
		c, cErr := stringAttr(in.Item, attrCommitID)
		if aErr == nil && vErr == nil && cErr == nil {
			return a, v, c
		}
	case *dynamodb.UpdateItemInput:
		a, aErr := stringAttr(in.Key, attrAggregateID)
		v, vErr := numberAttr(in.Key, attrVersion)
		if ids, ok := in.ExpressionAttributeValues[":cids"].(*types.AttributeValueMemberSS); ok && len(ids.Value) == 1 && aErr == nil && vErr == nil {
			return a, v, ids.Value[0]
		}
	}
	return aggregateID, version, commitID
}

// queriedAggregate returns the aggregate a query of the table names (its
// key condition's value :a), or "".
func queriedAggregate(in any) string {
	q, ok := in.(*dynamodb.QueryInput)
	if !ok || q.IndexName != nil {
		return ""
	}
	a, _ := q.ExpressionAttributeValues[":a"].(*types.AttributeValueMemberS)
	if a == nil {
		return ""
	}
	return a.Value
}

// withCapacity asks for the consumed capacity on a copy of the input of
// any operation that can report it, so the caller's input is not changed.
func withCapacity(in any) any {
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return in
	}
	field := v.Elem().FieldByName("ReturnConsumedCapacity")
	if !field.IsValid() || field.String() != "" {
		return in
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	cp.Elem().FieldByName("ReturnConsumedCapacity").SetString(string(types.ReturnConsumedCapacityTotal))
	return cp.Interface()
}

// consumed returns the capacity units the result of any operation reports,
// and for a query the CommitID of its last item.
func consumed(result any) (units float64, newest string) {
	if out, ok := result.(*dynamodb.QueryOutput); ok && len(out.Items) > 0 {
		newest, _ = stringAttr(out.Items[len(out.Items)-1], attrCommitID)
	}
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0, newest
	}
	switch cc := v.Elem().FieldByName("ConsumedCapacity"); {
	case !cc.IsValid():
	case cc.Type() == reflect.TypeFor[*types.ConsumedCapacity]():
		if c := cc.Interface().(*types.ConsumedCapacity); c != nil {
			units = aws.ToFloat64(c.CapacityUnits)
		}
	case cc.Type() == reflect.TypeFor[[]types.ConsumedCapacity]():
		for _, c := range cc.Interface().([]types.ConsumedCapacity) {
			units += aws.ToFloat64(c.CapacityUnits)
		}
	}
	return units, newest
}

// writes reports whether the operation named op writes (its capacity is
// write units).
func writes(op string) bool {
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem":
		return true
	}
	return false
}
