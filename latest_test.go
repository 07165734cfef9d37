package eventstore_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

func TestLatestVersionAndExists(t *testing.T) {
	t.Parallel()
	var calls opLog
	s, _, _ := newStore(t, eventstore.Config{}, calls.option())
	check := func(id string, want int64) {
		t.Helper()
		calls.take()
		v, err := s.LatestVersion(ctxT(t), id)
		if err != nil || v != want {
			t.Fatalf("LatestVersion(%q) = %d, %v; want %d", id, v, err, want)
		}
		sent := calls.take()
		in, ok := sent[0].Input.(*dynamodb.QueryInput)
		if len(sent) != 1 || !ok || !aws.ToBool(in.ConsistentRead) || aws.ToBool(in.ScanIndexForward) || aws.ToInt32(in.Limit) != 1 {
			t.Fatalf("LatestVersion sent %+v, want one consistent Query, newest first, Limit 1", sent)
		}
		exists, err := s.Exists(ctxT(t), id)
		if err != nil || exists != (want >= 0) {
			t.Fatalf("Exists(%q) = %v, %v; want %v", id, exists, err, want >= 0)
		}
	}
	check("a", -1)
	for v := range int64(3) {
		mustAppend(t, s, commit("a", v))
		check("a", v)
	}
	mustAppend(t, s, commit("ab", 0)) // a neighbour with a common prefix
	check("a", 2)
	// The metadata item at version -1 of "$eventstore" is not a commit.
	check("$eventstore", -1)
	mustAppend(t, s, commit("$eventstore", 0))
	check("$eventstore", 0)
}
