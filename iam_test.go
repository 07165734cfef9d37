package eventstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/notifier"
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

// The policies of docs/table.md's "Policies by role" name this table and
// this relay.
const (
	policyTable = "arn:aws:dynamodb:REGION:ACCOUNT:table/events"
	policyRelay = "accounts-topic"
)

// iamPolicy is an IAM policy document.
type iamPolicy struct {
	Version   string
	Statement []iamStatement
}

type iamStatement struct {
	Sid       string
	Effect    string
	Action    iamList
	Resource  iamList
	Condition map[string]map[string]iamList
}

// iamList is a string or a list of strings.
type iamList []string

func (l *iamList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = iamList{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// iamRequest is what IAM authorizes of one DynamoDB request: an action on
// a resource, and the partition keys it touches (dynamodb:LeadingKeys).
type iamRequest struct {
	action, resource string
	leadingKeys      []string
}

func (r iamRequest) String() string {
	return fmt.Sprintf("%s on %s, leading keys %q", r.action, r.resource, r.leadingKeys)
}

// iamMatch reports whether s matches an IAM pattern, with * and ?.
func iamMatch(pattern, s string, fold bool) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	if fold {
		re = "(?i)" + re
	}
	return regexp.MustCompile(re).MatchString(s)
}

func anyMatch(patterns []string, s string, fold bool) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return iamMatch(p, s, fold) })
}

// matches reports whether st applies to r. It fails on a condition it
// does not model, so that no condition is ever ignored.
func (st iamStatement) matches(r iamRequest) (bool, error) {
	if !anyMatch(st.Action, r.action, true) || !anyMatch(st.Resource, r.resource, false) {
		return false, nil
	}
	for op, keys := range st.Condition {
		for key, values := range keys {
			if key != "dynamodb:LeadingKeys" {
				return false, fmt.Errorf("statement %s: condition key %s not modelled", st.Sid, key)
			}
			qualifier, test, _ := strings.Cut(op, ":")
			var match func(v string) bool
			switch test {
			case "StringEquals":
				match = func(v string) bool { return slices.Contains(values, v) }
			case "StringLike":
				match = func(v string) bool { return anyMatch(values, v, false) }
			default:
				return false, fmt.Errorf("statement %s: condition operator %s not modelled", st.Sid, op)
			}
			switch qualifier {
			case "ForAllValues": // true for a request without keys
				if !allOf(r.leadingKeys, match) {
					return false, nil
				}
			case "ForAnyValue":
				if !slices.ContainsFunc(r.leadingKeys, match) {
					return false, nil
				}
			default:
				return false, fmt.Errorf("statement %s: condition %s on a multivalued key needs ForAllValues or ForAnyValue", st.Sid, op)
			}
		}
	}
	return true, nil
}

func allOf(list []string, f func(string) bool) bool {
	for _, v := range list {
		if !f(v) {
			return false
		}
	}
	return true
}

// allows evaluates p as IAM does for an identity policy alone: allowed if
// a statement allows r and none denies it.
func (p iamPolicy) allows(r iamRequest) (bool, error) {
	allowed := false
	for _, st := range p.Statement {
		ok, err := st.matches(r)
		if err != nil {
			return false, err
		}
		switch {
		case ok && st.Effect == "Deny":
			return false, nil
		case ok && st.Effect == "Allow":
			allowed = true
		case st.Effect != "Allow" && st.Effect != "Deny":
			return false, fmt.Errorf("statement %s: effect %q", st.Sid, st.Effect)
		}
	}
	return allowed, nil
}

// readmePolicies parses the policies of docs/table.md's "Policies by
// role": <!-- iam:ROLE --> and a JSON block.
func readmePolicies(t *testing.T) map[string]iamPolicy {
	t.Helper()
	doc, err := os.ReadFile("docs/table.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)<!-- iam:([a-z]+) -->\n```json\n(.*?)```\n<!-- /iam:([a-z]+) -->").FindAllStringSubmatch(string(doc), -1)
	out := map[string]iamPolicy{}
	for _, b := range blocks {
		var p iamPolicy
		dec := json.NewDecoder(strings.NewReader(b[2]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil || b[1] != b[3] || p.Version != "2012-10-17" {
			t.Fatalf("docs/table.md: policy of %s (version %q): %v", b[1], p.Version, err)
		}
		out[b[1]] = p
	}
	return out
}

// hashKeys are the partition keys of the table and of its indexes.
var hashKeys = map[string]string{"": "aggregateId", "commitsByCommitId": "shard", eventstore.DefaultAggregatesIndex: "aggregateShard"}

// requestsOf maps recorded calls to what IAM authorizes: each item of a
// transaction is its own action on its own key; a Query's leading key is
// the value its key condition gives the partition key.
func requestsOf(t *testing.T, calls []opCall) []iamRequest {
	t.Helper()
	var out []iamRequest
	item := func(action string, key map[string]types.AttributeValue) {
		out = append(out, iamRequest{action: "dynamodb:" + action, resource: policyTable, leadingKeys: []string{attrString(t, key["aggregateId"])}})
	}
	for _, c := range calls {
		switch in := c.Input.(type) {
		case *dynamodb.GetItemInput:
			item("GetItem", in.Key)
		case *dynamodb.PutItemInput:
			item("PutItem", in.Item)
		case *dynamodb.UpdateItemInput:
			item("UpdateItem", in.Key)
		case *dynamodb.DeleteItemInput:
			item("DeleteItem", in.Key)
		case *dynamodb.TransactWriteItemsInput:
			for _, ti := range in.TransactItems {
				switch {
				case ti.Put != nil:
					item("PutItem", ti.Put.Item)
				case ti.Update != nil:
					item("UpdateItem", ti.Update.Key)
				case ti.Delete != nil:
					item("DeleteItem", ti.Delete.Key)
				case ti.ConditionCheck != nil:
					item("ConditionCheckItem", ti.ConditionCheck.Key)
				}
			}
		case *dynamodb.QueryInput:
			index := aws.ToString(in.IndexName)
			r := iamRequest{action: "dynamodb:Query", resource: policyTable}
			if index != "" {
				r.resource += "/index/" + index
			}
			for _, m := range regexp.MustCompile(`(#?\w+) = (:\w+)`).FindAllStringSubmatch(aws.ToString(in.KeyConditionExpression), -1) {
				name := m[1]
				if n, ok := in.ExpressionAttributeNames[name]; ok {
					name = n
				}
				if name == hashKeys[index] {
					r.leadingKeys = append(r.leadingKeys, attrString(t, in.ExpressionAttributeValues[m[2]]))
				}
			}
			if len(r.leadingKeys) != 1 {
				t.Fatalf("Query %q: no partition key of %q", aws.ToString(in.KeyConditionExpression), hashKeys[index])
			}
			out = append(out, r)
		case *dynamodb.CreateTableInput, *dynamodb.DescribeTableInput, *dynamodb.DescribeTimeToLiveInput, *dynamodb.UpdateTimeToLiveInput:
			out = append(out, iamRequest{action: "dynamodb:" + c.Op, resource: policyTable})
		default:
			t.Fatalf("no IAM model of %s", c.Op)
		}
	}
	return out
}

func attrString(t *testing.T, v types.AttributeValue) string {
	t.Helper()
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	}
	t.Fatalf("key attribute %T", v)
	return ""
}

// checkRole checks that role's policy allows every request of calls and
// grants no action they did not use.
func checkRole(t *testing.T, policies map[string]iamPolicy, role string, calls []opCall) {
	t.Helper()
	p, ok := policies[role]
	if !ok {
		t.Errorf("docs/table.md has no policy of %s", role)
		return
	}
	used := map[string]bool{}
	for _, r := range requestsOf(t, calls) {
		used[strings.ToLower(r.action)] = true
		if ok, err := p.allows(r); err != nil || !ok {
			t.Errorf("%s's policy denies %v (%v), which its calls send", role, r, err)
		}
	}
	for _, st := range p.Statement {
		for _, a := range st.Action {
			if st.Effect == "Allow" && strings.HasPrefix(a, "dynamodb:") && !used[strings.ToLower(a)] {
				t.Errorf("%s's policy grants %s (statement %s), which none of its calls uses", role, a, st.Sid)
			}
		}
	}
}

// checkDenied checks what role must not do, and the few writes it must.
func checkDenied(t *testing.T, policies map[string]iamPolicy, role string, want bool, action, key string) {
	t.Helper()
	r := iamRequest{action: action, resource: policyTable, leadingKeys: []string{key}}
	if ok, err := policies[role].allows(r); err != nil || ok != want {
		t.Errorf("%s's policy allows %v: %v (%v), want %v", role, r, ok, err, want)
	}
}

// nopNotifier publishes nothing, counting the commits.
type nopNotifier struct{ n atomic.Int64 }

func (n *nopNotifier) Notify(context.Context, eventstore.Commit) error {
	n.n.Add(1)
	return nil
}

// Each role's policy in docs/table.md allows every request of every call of
// that role, down each of its paths (first use of a table made by
// infrastructure code, a write settled past its deadline), grants nothing
// else, and keeps readers and the relay from writing what they must not: a
// reader writes nothing (the metadata item least of all: a reader that
// rewrote it would break every writer), the relay writes its own
// checkpoint only, never a commit nor another relay's checkpoint.
func TestIAMPoliciesByRole(t *testing.T) {
	t.Parallel()
	policies := readmePolicies(t)
	var calls opLog
	client := dynamotest.Client(t, calls.option())
	cfg := eventstore.Config{AggregatesIndex: eventstore.DefaultAggregatesIndex, TTL: time.Hour,
		MaxCommitLatency: time.Second, Settle: time.Second + eventstore.SettleAllowance}
	table := dynamotest.TableName(t, client)
	ctx := ctxT(t)
	meta := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: "$eventstore"}, "version": &types.AttributeValueMemberN{Value: "-1"}}
	old := func(id string) eventstore.Commit {
		c := commit(id, 0)
		c.CommitID = ulid.MustNew(ulid.Timestamp(time.Now().Add(-time.Minute)), rand.Reader).String()
		return c
	}

	must(t, storeOn(t, client, table, cfg).CreateTable(ctx))
	checkRole(t, policies, "admin", calls.take())

	// Writers: the first on a table made by infrastructure code, and one
	// on a table whose metadata item predates the writer deadline.
	_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: meta})
	must(t, err)
	calls.take()
	w := storeOn(t, client, table, cfg)
	mustAppend(t, w, commit("a", 0))
	w.Append(ctx, old("late"))
	_, err = w.AppendAll(ctx, commit("a", 1), commit("b", 0))
	must(t, err)
	w.AppendAll(ctx, old("late1"), old("late2"))
	_, err = w.AppendNext(ctx, commit("a", 2))
	must(t, err)
	w.AppendNext(ctx, old("late3"))
	c, err := w.AppendNew(ctx, commit("c", 0))
	must(t, err)
	w.AppendNew(ctx, old("late4"))
	_, err = w.AppendNew(ctx, c) // a retry, checked with a read of version 0
	must(t, err)
	_, err = w.Update(ctx, "c", func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		return []eventstore.Event{event("updated", 1)}, nil
	})
	must(t, err)
	_, err = w.Import(ctx, old("imported"))
	must(t, err)
	writes := calls.take()
	_, err = client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: meta,
		UpdateExpression: aws.String("REMOVE maxCommitLatency")})
	must(t, err)
	calls.take()
	mustAppend(t, storeOn(t, client, table, cfg), commit("d", 0))
	checkRole(t, policies, "writer", append(writes, calls.take()...))

	// Readers, on a table a writer used.
	r := storeOn(t, client, table, cfg)
	collect(t, r.Query(ctx, "a", 0))
	_, err = r.LatestVersion(ctx, "a")
	must(t, err)
	_, err = r.Exists(ctx, "a")
	must(t, err)
	collect(t, r.Scan(ctx, ""))
	for _, err := range r.Tail(ctx, "") {
		must(t, err)
		break
	}
	tctx, cancel := context.WithCancel(ctx)
	for _, err := range r.Tail(tctx, "", eventstore.Live(), eventstore.OnCaughtUp(cancel)) {
		must(t, err)
	}
	cancel()
	for _, err := range r.Aggregates(ctx) {
		must(t, err)
	}
	checkRole(t, policies, "reader", calls.take())

	// The relay: standby, then publishing and checkpointing.
	n := &nopNotifier{}
	relay, err := notifier.NewRelay(notifier.RelayConfig{Store: storeOn(t, client, table, cfg), Notifier: n,
		DynamoDB: client, Table: table, Name: policyRelay, LeaseDuration: 300 * time.Millisecond})
	must(t, err)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	e := mustAppend(t, storeOn(t, dynamotest.Client(t), table, cfg), commit("e", 0)) // not the relay's request
	for cp := ""; cp < e.CommitID; time.Sleep(50 * time.Millisecond) {
		cp, err = relay.Checkpoint(ctx)
		must(t, err)
	}
	stop()
	<-done
	checkRole(t, policies, "relay", calls.take())

	const checkpoint = "$eventstore/relay/" + policyRelay
	for _, action := range []string{"PutItem", "UpdateItem", "DeleteItem"} {
		for _, key := range []string{"$eventstore", "a", checkpoint} {
			checkDenied(t, policies, "reader", false, "dynamodb:"+action, key)
		}
		for _, key := range []string{"$eventstore", "a", "$eventstore/relay/other"} {
			checkDenied(t, policies, "relay", false, "dynamodb:"+action, key)
		}
	}
	checkDenied(t, policies, "relay", false, "dynamodb:PutItem", checkpoint)
	checkDenied(t, policies, "relay", true, "dynamodb:UpdateItem", checkpoint)
	checkDenied(t, policies, "relay", true, "dynamodb:GetItem", checkpoint)
	checkDenied(t, policies, "relay", false, "dynamodb:GetItem", "$eventstore/relay/other")
}
