package main

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

// rawCommit is the item of a well-formed commit of aggregate agg at
// version 0 with commitID, in shard shard: the test changes what it
// tests.
func rawCommit(agg, commitID, shard string) map[string]types.AttributeValue {
	committedAt := "0"
	if id, err := ulid.ParseStrict(commitID); err == nil {
		committedAt = strconv.FormatUint(id.Time(), 10)
	}
	item := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: agg},
		"version":     &types.AttributeValueMemberN{Value: "0"},
		"commitId":    &types.AttributeValueMemberS{Value: commitID},
		"committedAt": &types.AttributeValueMemberN{Value: committedAt},
		"events":      &types.AttributeValueMemberS{Value: `[{"t":"e"}]`},
	}
	if shard != "" {
		item["shard"] = &types.AttributeValueMemberN{Value: shard}
	}
	return item
}

func putRaw(t *testing.T, client *dynamodb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := client.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
		t.Fatal(err)
	}
}

// Issue 26, item 7: verify reports every item that Scan would not yield
// as a commit: a commitId that is not a canonical ULID wherever it sorts,
// a shard outside the table's, no shard at all (not in the scan index), a
// negative version in the scan index.
func TestVerifyReportsForeignItems(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{ScanShards: 4})
	seed(t, store, 1)
	settled := func() string { return ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Hour)), rand.Reader).String() }
	shard99, noShard := settled(), settled()
	inIndex := rawCommit("$eventstore/x", settled(), "0")
	inIndex["version"] = &types.AttributeValueMemberN{Value: "-1"}
	for _, item := range []map[string]types.AttributeValue{
		rawCommit("uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", "1"),
		rawCommit("upper-uuid", "0F8FAD5B-D9CB-469F-A165-70867728950E", "1"),
		rawCommit("past-ulids", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "2"),
		rawCommit("odd", "ZZZZ", "3"),
		rawCommit("below", "-1", "0"),
		rawCommit("shard99", shard99, "99"),
		rawCommit("noshard", noShard, ""),
		inIndex,
	} {
		putRaw(t, client, table, item)
	}
	r := runCLI(t, table, "verify").want(t, exitProblems)
	for _, want := range []string{
		`undecodable: aggregate "uuid" version 0:`,
		`undecodable: aggregate "upper-uuid" version 0:`,
		`undecodable: aggregate "past-ulids" version 0:`,
		`undecodable: aggregate "odd" version 0:`,
		`undecodable: aggregate "below" version 0:`,
		`shard: aggregate "shard99" version 0 commit ` + shard99 + ` has shard 99, not one of 0 to 3 (Scan never reads it)`,
		`shard: aggregate "noshard" version 0 commit ` + noShard + ` has no shard: not in the scan index (Scan never reads it)`,
		`not a commit: aggregate "$eventstore/x" version -1 is in the scan index (commitId "` + inIndex["commitId"].(*types.AttributeValueMemberS).Value + `", shard 0), where Scan fails on it`,
		"8 problems\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output:\n%s\nwant %q", r.stdout, want)
		}
	}
}

// nothing is a notifier that publishes nothing.
type nothing struct{}

func (nothing) Notify(context.Context, eventstore.Commit) error { return nil }

// Issue 26, item 11: the items the library writes besides commits (the
// metadata item, a relay's checkpoint, a fence) are no problem.
func TestVerifyKnowsTheLibrarysItems(t *testing.T) {
	store, client, table := newStore(t, eventstore.Config{})
	commits := seed(t, store, 1)
	relay, err := notifier.NewRelay(notifier.RelayConfig{Store: store, Notifier: nothing{}, DynamoDB: client,
		Table: table, Name: "orders", From: commits[0].CommitID})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if cp, err := relay.Checkpoint(ctx(t)); err != nil || cp != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay stored no checkpoint in 30 s")
		}
	}
	cancel()
	<-done
	putRaw(t, client, table, map[string]types.AttributeValue{ // a fence, as fence.go writes it
		"aggregateId": &types.AttributeValueMemberS{Value: "account#a"},
		"version":     &types.AttributeValueMemberN{Value: "1"},
		"refused":     &types.AttributeValueMemberSS{Value: []string{ulid.Make().String()}},
	})
	if r := runCLI(t, table, "verify").want(t, exitOK); !strings.Contains(r.stdout, "verify: 2 commits of 2 aggregates, 0 problems") {
		t.Errorf("verify of a table with a relay checkpoint and a fence: %q", r.stdout)
	}
}
