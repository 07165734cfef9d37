package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/projection"
)

// TestMain stops DynamoDB Local when the tests end; with
// PROJECTION_TEST_CONSUMER=1 the binary is a consumer process of
// TestCrashTakeover instead.
func TestMain(m *testing.M) {
	if os.Getenv(envConsumer) == "1" {
		os.Exit(consumerMain())
	}
	os.Exit(dynamotest.Main(m))
}

// testLatency is the writers' deadline of the test stores: their settle
// window is 7 s, so a live Tail's watermark trails by about that.
const testLatency = 2 * time.Second

func storeConfig(table string) eventstore.Config {
	return eventstore.Config{Table: table, MaxCommitLatency: testLatency, Settle: testLatency + eventstore.SettleAllowance, ScanShards: 4}
}

func ctxT(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// n returns event data {"n": k}.
func ev(k int) eventstore.Event {
	return eventstore.Event{Type: "added", Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, k))}
}

// appendRound appends one commit to each aggregate, at version v, with
// several writers. It reports failures with Error, so that a writer
// goroutine of a test may call it.
func appendRound(tb testing.TB, ctx context.Context, s *eventstore.Store, aggs []string, v int64) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(aggs))
	sem := make(chan struct{}, 16)
	for k, a := range aggs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := eventstore.Commit{AggregateID: a, Version: v, Events: []eventstore.Event{ev(k + int(v))}}
			_, err := s.Append(ctx, c)
			for try := 0; errors.Is(err, eventstore.ErrCommitDeadline) && try < 5; try++ {
				_, err = s.Append(ctx, c) // a loaded machine: again, with a new CommitID
			}
			if err != nil {
				errs <- fmt.Errorf("append %s v%d: %w", a, v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Error(err)
	}
}

func aggregates(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s#%d", prefix, i)
	}
	return out
}

// recorder is a handler that records what it was handed.
type recorder struct {
	mu   sync.Mutex
	got  []eventstore.Commit
	fail func(c eventstore.Commit) error
}

func (r *recorder) Handle(ctx context.Context, c eventstore.Commit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(c); err != nil {
			return err
		}
	}
	r.got = append(r.got, c)
	return nil
}

func (r *recorder) commits() []eventstore.Commit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventstore.Commit(nil), r.got...)
}

// versions returns, per aggregate, the versions handed, in order.
func (r *recorder) versions() map[string][]int64 {
	out := map[string][]int64{}
	for _, c := range r.commits() {
		out[c.AggregateID] = append(out[c.AggregateID], c.Version)
	}
	return out
}

// waitFor polls cond every 50 ms until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runRunner runs a runner of cfg until the test ends.
func runRunner(tb testing.TB, cfg projection.Config) {
	tb.Helper()
	r, err := projection.NewRunner(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			tb.Errorf("Run: %v", err)
		}
	})
}

// readModel is a second table holding, per aggregate, the fold of its
// events (total of n, count of events) and the version applied: the
// handler's effect is exactly-once by a conditional write on the version.
type readModel struct {
	client *dynamodb.Client
	table  string
}

func newReadModel(ctx context.Context, client *dynamodb.Client, table string) (*readModel, error) {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return nil, err
	}
	return &readModel{client: client, table: table}, nil
}

// fold is what the read model holds for an aggregate.
type fold struct {
	Version int64
	Total   int64
	Events  int64
}

func foldEvents(c eventstore.Commit) (total, count int64, err error) {
	for _, e := range c.Events {
		var d struct{ N int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return 0, 0, err
		}
		total += d.N
		count++
	}
	return total, count, nil
}

// Handle applies c if the stored version is c.Version-1 (absent for 0);
// a commit already applied is a no-op, so a repeat has no effect.
func (m *readModel) Handle(ctx context.Context, c eventstore.Commit) error {
	total, count, err := foldEvents(c)
	if err != nil {
		return err
	}
	cond := "v = :prev"
	values := map[string]types.AttributeValue{
		":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version, 10)},
		":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(total, 10)},
		":c": &types.AttributeValueMemberN{Value: strconv.FormatInt(count, 10)},
	}
	update := "SET v = :v ADD amt :t, cnt :c"
	if c.Version == 0 {
		cond = "attribute_not_exists(v)"
	} else {
		values[":prev"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.Version-1, 10)}
	}
	_, err = m.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(m.table), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: c.AggregateID}},
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
	})
	var cf *types.ConditionalCheckFailedException
	if !errors.As(err, &cf) {
		return err
	}
	f, err := m.get(ctx, c.AggregateID)
	switch {
	case err != nil:
		return err
	case f.Version >= c.Version:
		return nil // applied before: a repeat
	default:
		return fmt.Errorf("read model of %s is at version %d, got version %d", c.AggregateID, f.Version, c.Version)
	}
}

func (m *readModel) get(ctx context.Context, id string) (fold, error) {
	out, err := m.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(m.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}})
	if err != nil || out.Item == nil {
		return fold{Version: -1}, err
	}
	num := func(name string) int64 {
		v, _ := out.Item[name].(*types.AttributeValueMemberN)
		if v == nil {
			return 0
		}
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	return fold{Version: num("v"), Total: num("amt"), Events: num("cnt")}, nil
}

// checkReadModel compares the read model with a fold of Query for every
// aggregate.
func checkReadModel(tb testing.TB, ctx context.Context, s *eventstore.Store, m *readModel, aggs []string) {
	tb.Helper()
	bad := 0
	for _, a := range aggs {
		want := fold{Version: -1}
		for c, err := range s.Query(ctx, a, 0) {
			if err != nil {
				tb.Fatal(err)
			}
			total, count, err := foldEvents(c)
			if err != nil {
				tb.Fatal(err)
			}
			want = fold{Version: c.Version, Total: want.Total + total, Events: want.Events + count}
		}
		got, err := m.get(ctx, a)
		if err != nil {
			tb.Fatal(err)
		}
		if got != want && bad < 10 {
			bad++
			tb.Errorf("read model of %s = %+v, fold of Query = %+v", a, got, want)
		}
	}
}
