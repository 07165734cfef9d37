package eventstore_test

import (
	"context"
	"crypto/rand"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// iamActions are the IAM actions a call needs, on the table and on its
// indexes.
type iamActions struct{ table, index []string }

// actionsOf maps recorded calls to IAM actions: a transaction's puts are
// authorized as PutItem, a Query of an index on the index's ARN.
func actionsOf(calls []opCall) iamActions {
	var a iamActions
	add := func(list *[]string, action string) {
		if !slices.Contains(*list, action) {
			*list = append(*list, action)
		}
	}
	for _, c := range calls {
		switch in := c.Input.(type) {
		case *dynamodb.TransactWriteItemsInput:
			add(&a.table, "dynamodb:PutItem")
		case *dynamodb.QueryInput:
			if in.IndexName != nil {
				add(&a.index, "dynamodb:Query")
			} else {
				add(&a.table, "dynamodb:Query")
			}
		default:
			add(&a.table, "dynamodb:"+c.Op)
		}
	}
	slices.Sort(a.table)
	slices.Sort(a.index)
	return a
}

// readmeIAM parses the IAM table of docs/table.md: Store call → actions.
func readmeIAM(t *testing.T) map[string]iamActions {
	readme, err := os.ReadFile("docs/table.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## IAM\n")
	if !ok {
		t.Fatal("docs/table.md has no IAM section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	name := regexp.MustCompile("`([A-Za-z]+)`")
	action := regexp.MustCompile(`dynamodb:[A-Za-z]+`)
	rows := map[string]iamActions{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.Contains(cells[2], "dynamodb:") {
			continue
		}
		a := iamActions{table: action.FindAllString(cells[2], -1), index: action.FindAllString(cells[3], -1)}
		slices.Sort(a.table)
		slices.Sort(a.index)
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] = a
		}
	}
	return rows
}

// Every Store call, down each of its paths (first use of a table made
// elsewhere, a write settled past its deadline), needs exactly the actions
// docs/table.md lists for it.
func TestIAMTableMatchesTheCalls(t *testing.T) {
	t.Parallel()
	var calls opLog
	client := dynamotest.Client(t, calls.option())
	cfg := eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex, TTL: time.Hour}
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	// fresh returns a store that has not checked the shard count yet, on a
	// table whose record of it is gone, as on a table made elsewhere.
	created := false
	fresh := func() *eventstore.Store {
		if created {
			if _, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
				"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"}, "version": &types.AttributeValueMemberN{Value: "-1"}}}); err != nil {
				t.Fatal(err)
			}
		}
		created = true
		calls.take()
		return storeOn(t, client, table, cfg)
	}
	old := func(id string) eventstore.Commit {
		c := commit(id, 0)
		c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
		return c
	}
	got := map[string]iamActions{}
	run := func(name string, f func(s *eventstore.Store)) {
		f(fresh())
		got[name] = actionsOf(calls.take())
	}
	run("CreateTable", func(s *eventstore.Store) { must(t, s.CreateTable(ctx)) })
	run("Append", func(s *eventstore.Store) {
		mustAppend(t, s, commit("a", 0))
		s.Append(ctx, old("late"))
	})
	run("AppendAll", func(s *eventstore.Store) {
		_, err := s.AppendAll(ctx, commit("a", 1), commit("b", 0))
		must(t, err)
		s.AppendAll(ctx, old("late1"), old("late2"))
	})
	run("AppendNext", func(s *eventstore.Store) {
		_, err := s.AppendNext(ctx, commit("a", 0))
		must(t, err)
		s.AppendNext(ctx, old("late")) // settled past its deadline
	})
	run("AppendNew", func(s *eventstore.Store) {
		c, err := s.AppendNew(ctx, commit("c", 0))
		must(t, err)
		s.AppendNew(ctx, old("late")) // settled past its deadline
		mustAppend(t, s, commit("c", 1))
		_, err = s.AppendNew(ctx, c) // a retry, checked with a read of version 0
		must(t, err)
	})
	run("Query", func(s *eventstore.Store) { collect(t, s.Query(ctx, "a", 0)) })
	run("LatestVersion", func(s *eventstore.Store) { _, err := s.LatestVersion(ctx, "a"); must(t, err) })
	run("Exists", func(s *eventstore.Store) { _, err := s.Exists(ctx, "a"); must(t, err) })
	run("Scan", func(s *eventstore.Store) { collect(t, s.Scan(ctx, "", eventstore.WithSettle(0))) })
	run("Tail", func(s *eventstore.Store) {
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for _, err := range s.Tail(tctx, "", eventstore.WithSettle(0)) {
			must(t, err)
			break
		}
	})
	run("Aggregates", func(s *eventstore.Store) {
		for _, err := range s.Aggregates(ctx) {
			must(t, err)
		}
	})

	want := readmeIAM(t)
	for name, g := range got {
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("docs/table.md's IAM table has no row for %s, which needs %v", name, g)
		case !slices.Equal(w.table, g.table) || !slices.Equal(w.index, g.index):
			t.Errorf("%s: docs/table.md lists %v on the table and %v on indexes; its requests need %v and %v", name, w.table, w.index, g.table, g.index)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("docs/table.md's IAM table lists %s, which this test does not run", name)
		}
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
