package notifier_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
	"github.com/dynacommit/eventstore/notifier/snstest"
)

// running is a relay running in the background.
type running struct {
	relay  *notifier.Relay
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	errs   []error // what OnError was told
}

// startRelay runs a relay of cfg (lease 1 s unless set) until stop or the
// end of the test.
func startRelay(tb testing.TB, cfg notifier.RelayConfig) *running {
	tb.Helper()
	return startRelayIn(tb, ctxT(tb), cfg)
}

// startRelayIn is startRelay with a parent context.
func startRelayIn(tb testing.TB, parent context.Context, cfg notifier.RelayConfig) *running {
	tb.Helper()
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = time.Second
	}
	r := &running{done: make(chan error, 1)}
	cfg.OnError = func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
	relay, err := notifier.NewRelay(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	r.relay = relay
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	go func() { r.done <- relay.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop cancels the relay and waits for Run, which must end with Canceled.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	r.cancel()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		tb.Fatalf("Run = %v, want context.Canceled", err)
	}
	r.done <- context.Canceled // for the cleanup
}

// wait waits for Run to end by itself, with Canceled.
func (r *running) wait(tb testing.TB) {
	tb.Helper()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		tb.Fatalf("Run = %v, want context.Canceled", err)
	}
	r.done <- context.Canceled // for the cleanup
}

func (r *running) reported() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// TestRelayDeliversEveryCommit: a relay publishes the commits stored before
// it started and those appended while it runs, each once, each aggregate
// in version order, and its checkpoint (the Tail's watermark) passes the
// last one within the settle window.
func TestRelayDeliversEveryCommit(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	rec := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{})}
	before := appendMany(t, store, "before", 5, 4)
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: rec, DynamoDB: client, Table: table, Name: "all"})
	during := appendMany(t, store, "during", 2, 5)
	want := append(before, during...)

	checkAll(t, "queue", queue.Receive(t, len(want), 10*time.Second), want)
	last := want[len(want)-1].CommitID
	waitCheckpoint(t, relay.relay, last)
	relay.stop(t)
	published := rec.published()
	if len(published) != len(want) {
		t.Fatalf("relay published %d commits, want %d", len(published), len(want))
	}
	checkPerAggregateOrder(t, "published", envelopes(published), false)
	if cp, err := relay.relay.Checkpoint(ctxT(t)); err != nil || cp < last {
		t.Fatalf("Checkpoint = %q, %v; want at least the last commit %s", cp, err, last)
	}
	if len(rec.batches) >= len(want) {
		t.Errorf("%d batches for %d commits: the relay did not batch", len(rec.batches), len(want))
	}
	for c, err := range store.Query(ctxT(t), "$eventstore/relay/all", 0) {
		t.Fatalf("Query of the checkpoint's aggregate yielded %+v, %v", c, err)
	}
}

// TestRelayFIFO: through a FIFO topic, each aggregate's commits arrive in
// order, in the aggregate's message group.
func TestRelayFIFO(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, true)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	want := appendMany(t, store, "fifo", 3, 6)
	// fauxqs 1.9.2 fans out a PublishBatch's entries in the order of its
	// form keys, which the SDK sorts: member.10 comes before member.2. AWS
	// keeps the entries' order. Batches of 9 avoid the emulator's bug.
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: newSNS(t, topic, notifier.SNSConfig{}),
		DynamoDB: client, Table: table, Name: "fifo", BatchSize: 9})
	msgs := queue.Receive(t, len(want), 10*time.Second)
	relay.stop(t)
	checkAll(t, "FIFO queue", msgs, want)
	envs := decodeAll(t, msgs)
	checkPerAggregateOrder(t, "FIFO queue", envs, false)
	for i, m := range msgs {
		if m.GroupID != envs[i].AggregateID || m.DedupID != notifier.DeduplicationID(envs[i].AggregateID, envs[i].Version) {
			t.Fatalf("message of %s: group %q, dedup id %q", envs[i].CommitID, m.GroupID, m.DedupID)
		}
	}
}

// TestRelayRestart kills a relay (cancels its ctx) in the middle of the
// log, right after it published a batch and before it checkpointed it, and
// starts another: every commit arrives, each aggregate in order in what
// each run published, and the only duplicates are the commits published
// after the last checkpoint.
func TestRelayRestart(t *testing.T) {
	t.Parallel()
	const batch = 5
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	want := appendMany(t, store, "r", 4, 15)
	time.Sleep(testSettle) // a settled backlog: the Tail's checkpoint follows each commit
	cfg := notifier.RelayConfig{Store: store, DynamoDB: client, Table: table, Name: "restart", BatchSize: batch}

	kill, killed := context.WithCancel(ctxT(t))
	rec1 := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{}), after: func(n int) {
		if n == 4 {
			killed() // mid-stream: after publishing the 4th batch, before checkpointing it
		}
	}}
	cfg.Notifier = rec1
	first := startRelayIn(t, kill, cfg)
	first.wait(t)
	checkpoint, err := first.relay.Checkpoint(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	run1 := rec1.published()
	if len(run1) == 0 || len(run1) >= len(want) || checkpoint == "" || checkpoint >= run1[len(run1)-1].CommitID {
		t.Fatalf("first run published %d of %d commits, checkpoint %q: not killed mid-stream between publish and checkpoint",
			len(run1), len(want), checkpoint)
	}
	var unrecorded []string // published after the checkpoint: the only allowed duplicates
	for _, c := range run1 {
		if c.CommitID > checkpoint {
			unrecorded = append(unrecorded, c.CommitID)
		}
	}

	rec2 := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{})}
	cfg.Notifier = rec2
	second := startRelay(t, cfg)
	msgs := queue.Receive(t, len(want)+len(unrecorded), 10*time.Second)
	second.stop(t)

	run2 := rec2.published()
	checkPerAggregateOrder(t, "first run", envelopes(run1), false)
	checkPerAggregateOrder(t, "second run", envelopes(run2), false)
	if len(run2) == 0 || run2[0].CommitID <= checkpoint {
		t.Fatalf("second run started at %v, want the commit after checkpoint %s", run2, checkpoint)
	}
	counts := countByCommit(decodeAll(t, msgs))
	var dups []string
	for _, c := range want {
		switch counts[c.CommitID] {
		case 0:
			t.Fatalf("commit %s (%s v%d) never arrived", c.CommitID, c.AggregateID, c.Version)
		case 1:
		case 2:
			dups = append(dups, c.CommitID)
		default:
			t.Fatalf("commit %s arrived %d times", c.CommitID, counts[c.CommitID])
		}
	}
	t.Logf("first run: %d commits in %d batches, checkpoint after %d; duplicates: %d",
		len(run1), len(rec1.batches), len(run1)-len(unrecorded), len(dups))
	// A batch may end just before the checkpoint of its last commit.
	if strings.Join(dups, ",") != strings.Join(unrecorded, ",") || len(dups) > batch+1 {
		t.Fatalf("duplicates %v, want exactly the %d commits published after the checkpoint %v", dups, len(unrecorded), unrecorded)
	}
	if len(msgs) != len(want)+len(dups) {
		t.Fatalf("%d messages for %d commits and %d duplicates", len(msgs), len(want), len(dups))
	}
}

// TestRelayStandby: of two relays with one Name, one publishes and the other
// waits; when the first stops, the second takes over from its checkpoint.
func TestRelayStandby(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	recA := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{})}
	recB := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{})}
	// A lease long enough that no stall of a loaded machine lets the
	// standby take over while the active relay runs.
	cfg := notifier.RelayConfig{Store: store, DynamoDB: client, Table: table, Name: "ha", LeaseDuration: 5 * time.Second}
	cfg.Notifier = recA
	a := startRelay(t, cfg)
	cfg.Notifier = recB
	b := startRelay(t, cfg)
	first := appendMany(t, store, "x", 3, 3)
	checkAll(t, "while both run", queue.Receive(t, len(first), 10*time.Second), first)
	waitCheckpoint(t, a.relay, first[len(first)-1].CommitID) // or the standby repeats them (at least once)
	active, standby, activeRec, standbyRec := a, b, recA, recB
	if len(recB.published()) > 0 {
		active, standby, activeRec, standbyRec = b, a, recB, recA
	}
	if len(activeRec.published()) != len(first) || len(standbyRec.published()) != 0 {
		t.Fatalf("published %d and %d; want all %d by one relay", len(activeRec.published()), len(standbyRec.published()), len(first))
	}
	active.stop(t)
	second := appendMany(t, store, "y", 2, 3)
	checkAll(t, "after failover", queue.Receive(t, len(second), 10*time.Second), second)
	standby.stop(t)
	if got := len(standbyRec.published()); got != len(second) {
		t.Fatalf("the standby published %d commits, want the %d appended after failover", got, len(second))
	}
}

// TestRelayStandsByWhenLeaseTaken: when another owner takes the lease (as a
// standby does when this relay stalled), the relay reports ErrLeaseLost,
// stops publishing, and resumes once the lease is free again.
func TestRelayStandsByWhenLeaseTaken(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	rec := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{})}
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: rec, DynamoDB: client, Table: table, Name: "steal"})
	first := appendMany(t, store, "x", 2, 2)
	checkAll(t, "before", queue.Receive(t, len(first), 10*time.Second), first)
	waitCheckpoint(t, relay.relay, first[len(first)-1].CommitID) // or they come again after the lease

	setLease(t, client, table, "steal", "intruder", time.Now().Add(time.Hour))
	deadline := time.Now().Add(10 * time.Second)
	for !hasLeaseLost(relay.reported()) {
		if time.Now().After(deadline) {
			t.Fatalf("no ErrLeaseLost reported; reported %v", relay.reported())
		}
		time.Sleep(50 * time.Millisecond)
	}
	held := appendMany(t, store, "y", 2, 2)
	if got := queue.Receive(t, 1, 3*time.Second); len(got) != 0 {
		t.Fatalf("%d messages published while another owner held the lease", len(got))
	}
	setLease(t, client, table, "steal", "intruder", time.UnixMilli(0)) // released
	checkAll(t, "after", queue.Receive(t, len(held), 10*time.Second), held)
	relay.stop(t)
}

// waitCheckpoint waits until the relay's stored checkpoint covers id: the
// watermark trails the log by the settle window.
func waitCheckpoint(tb testing.TB, r *notifier.Relay, id string) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cp, err := r.Checkpoint(ctxT(tb))
		if err != nil {
			tb.Fatal(err)
		}
		if cp >= id {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("checkpoint %q has not reached %s after 15 s", cp, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasLeaseLost(errs []error) bool {
	for _, err := range errs {
		if errors.Is(err, notifier.ErrLeaseLost) {
			return true
		}
	}
	return false
}

// setLease writes the lease of relay name directly, as another relay would.
func setLease(tb testing.TB, client *dynamodb.Client, table, name, owner string, until time.Time) {
	tb.Helper()
	_, err := client.UpdateItem(ctxT(tb), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore/relay/" + name},
			"version":     &types.AttributeValueMemberN{Value: "-1"},
		},
		UpdateExpression:         aws.String("SET #o = :o, #l = :l"),
		ExpressionAttributeNames: map[string]string{"#o": "owner", "#l": "leaseUntil"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": &types.AttributeValueMemberS{Value: owner},
			":l": &types.AttributeValueMemberN{Value: fmt.Sprint(until.UnixMilli())},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestRelayRetriesPublishFailures: failed publishes are reported and
// retried until they go through; nothing is skipped.
func TestRelayRetriesPublishFailures(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	store, client, table := newStore(t, nil)
	rec := &recorder{inner: newSNS(t, topic, notifier.SNSConfig{}), fail: 4}
	want := appendMany(t, store, "f", 3, 3)
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: rec, DynamoDB: client, Table: table, Name: "flaky"})
	checkAll(t, "queue", queue.Receive(t, len(want), 10*time.Second), want)
	relay.stop(t)
	if n := len(relay.reported()); n != 4 {
		t.Fatalf("OnError was told %d errors, want the 4 failed publishes: %v", n, relay.reported())
	}
}

// fakeNotifier records commits in memory; it is not a BatchNotifier. It
// fails every failEvery-th call.
type fakeNotifier struct {
	mu        sync.Mutex
	calls     int
	failEvery int
	got       []eventstore.Commit
}

func (f *fakeNotifier) Notify(_ context.Context, c eventstore.Commit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failEvery > 0 && f.calls%f.failEvery == 0 {
		return errors.New("injected")
	}
	f.got = append(f.got, c)
	return nil
}

func (f *fakeNotifier) published() []eventstore.Commit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]eventstore.Commit(nil), f.got...)
}

// TestRelayOneByOne: with a Notifier that cannot batch, the relay calls
// Notify per commit, in order, and after a failure resumes at the failed
// commit without announcing the earlier ones again. From skips the
// commits up to it.
func TestRelayOneByOne(t *testing.T) {
	t.Parallel()
	store, client, table := newStore(t, nil)
	all := appendMany(t, store, "o", 4, 10)
	fake := &fakeNotifier{failEvery: 7}
	from := all[9]
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: fake, DynamoDB: client, Table: table,
		Name: "one", From: from.CommitID})
	want := all[10:]
	deadline := time.Now().Add(20 * time.Second)
	for len(fake.published()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	relay.stop(t)
	got := fake.published()
	if len(got) != len(want) {
		t.Fatalf("published %d commits, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].CommitID != want[i].CommitID {
			t.Fatalf("commit %d published is %s, want %s", i, got[i].CommitID, want[i].CommitID)
		}
	}
	if n := len(relay.reported()); n == 0 {
		t.Fatal("no failure reported")
	}
}

func TestNewRelayValidates(t *testing.T) {
	t.Parallel()
	_, err := notifier.NewRelay(notifier.RelayConfig{Table: "x", From: "nope", LeaseDuration: time.Millisecond, BatchSize: -1})
	if err == nil {
		t.Fatal("NewRelay accepted an empty config")
	}
	for _, want := range []string{"Store", "Notifier", "DynamoDB", "Table", "Name", "From", "LeaseDuration", "BatchSize"} {
		if !strings.Contains(err.Error(), "RelayConfig."+want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// TestRelayRefusesCorruptCheckpoint: a checkpoint that is not a CommitID
// stops the relay with ErrCorruptCheckpoint, and the lease is released.
func TestRelayRefusesCorruptCheckpoint(t *testing.T) {
	t.Parallel()
	store, client, table := newStore(t, nil)
	setLease(t, client, table, "bad", "nobody", time.UnixMilli(0))
	_, err := client.UpdateItem(ctxT(t), &dynamodb.UpdateItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore/relay/bad"},
			"version":     &types.AttributeValueMemberN{Value: "-1"},
		},
		UpdateExpression:          aws.String("SET checkpoint = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": &types.AttributeValueMemberS{Value: "garbage"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	relay, err := notifier.NewRelay(notifier.RelayConfig{Store: store, Notifier: &fakeNotifier{}, DynamoDB: client,
		Table: table, Name: "bad"})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Run(ctxT(t)); !errors.Is(err, notifier.ErrCorruptCheckpoint) {
		t.Fatalf("Run = %v, want ErrCorruptCheckpoint", err)
	}
	if _, err := relay.Checkpoint(ctxT(t)); !errors.Is(err, notifier.ErrCorruptCheckpoint) {
		t.Fatalf("Checkpoint = %v, want ErrCorruptCheckpoint", err)
	}
	out, err := client.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore/relay/bad"},
			"version":     &types.AttributeValueMemberN{Value: "-1"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if until := out.Item["leaseUntil"].(*types.AttributeValueMemberN).Value; until != "0" {
		t.Fatalf("lease not released: leaseUntil %s", until)
	}
}

// TestRelayDeliversWithinASecond: with the default settle window (10 s), a
// relay in live mode publishes each commit within about a second of its
// Append: it reaches an SQS queue well before the window.
func TestRelayDeliversWithinASecond(t *testing.T) {
	t.Parallel()
	topic := snstest.Topic(t, false)
	queue := snstest.NewQueue(t, topic, snstest.QueueOptions{})
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t, client)
	store, _ := dynamotest.NewStore(t, eventstore.Config{Table: table})
	relay := startRelay(t, notifier.RelayConfig{Store: store, Notifier: newSNS(t, topic, notifier.SNSConfig{}),
		DynamoDB: client, Table: table, Name: "fast"})
	var lat []time.Duration
	for v := range 10 {
		c := mustAppend(t, store, commit("fast", int64(v)))
		returned := time.Now()
		checkAll(t, "queue", queue.Receive(t, 1, 15*time.Second), []eventstore.Commit{c})
		lat = append(lat, time.Since(returned))
	}
	relay.stop(t)
	slices.Sort(lat)
	// Generous for a loaded 2-core CI under -race; typically 200-400 ms.
	if p50, max := lat[len(lat)/2], lat[len(lat)-1]; p50 > 2*time.Second || max > 5*time.Second {
		t.Errorf("Append to SQS receipt: p50 %v, max %v; want well under the 10 s settle window", p50, max)
	}
	t.Logf("Append to SQS receipt: p50 %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
}
