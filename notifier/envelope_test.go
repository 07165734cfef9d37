package notifier_test

import (
	"encoding/json"
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier"
)

func TestEnvelopeJSON(t *testing.T) {
	t.Parallel()
	c := eventstore.Commit{
		AggregateID: "account#42", Version: 3, CommitID: "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		CommittedAt: time.UnixMilli(1732374245123),
		Events: []eventstore.Event{
			{Type: "deposited", Data: json.RawMessage(`{"amount": 10}`), Metadata: map[string]string{"k": "v"}},
			{Type: "noted"},
		},
		Metadata: map[string]string{"correlationId": "c-1"},
	}
	got, err := json.Marshal(notifier.NewEnvelope(c))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"eventstore.commit.v1","aggregateId":"account#42","version":3,` +
		`"commitId":"01JD5Q6X1Z8W3V4T2S9R7P6N5M","committedAt":"2024-11-23T15:04:05.123Z",` +
		`"events":[{"type":"deposited","data":{"amount":10},"metadata":{"k":"v"}},{"type":"noted"}],` +
		`"metadata":{"correlationId":"c-1"}}`
	if string(got) != want {
		t.Fatalf("envelope\n got %s\nwant %s", got, want)
	}
}

func TestDecodeWrappedNotification(t *testing.T) {
	t.Parallel()
	inner := `{"schema":"eventstore.commit.v1","aggregateId":"a","version":1,"commitId":"01JD5Q6X1Z8W3V4T2S9R7P6N5M",` +
		`"committedAt":"2024-11-23T15:04:05.123Z","eventsOmitted":true}`
	wrapper, _ := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
		"Message": inner, "Timestamp": "2024-11-23T15:04:06.000Z", "SignatureVersion": "1",
		"MessageAttributes": map[string]any{"version": map[string]string{"Type": "Number", "Value": "1"}},
	})
	for _, body := range []string{inner, string(wrapper)} {
		env, err := notifier.Decode([]byte(body))
		if err != nil {
			t.Fatalf("Decode(%s): %v", body, err)
		}
		if env.AggregateID != "a" || env.Version != 1 || !env.EventsOmitted || env.Events != nil ||
			!env.CommittedAt.Equal(time.UnixMilli(1732374245123)) {
			t.Fatalf("Decode(%s) = %+v", body, env)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		``,
		`not json`,
		`[]`,
		`{}`,
		`{"Type":"Notification","Message":"{}"}`,
		`{"Type":"Notification","Message":"not json"}`,
		`{"schema":"other.v1","aggregateId":"a","commitId":"c"}`,
		`{"schema":"eventstore.commit.v1","commitId":"c"}`,
		`{"schema":"eventstore.commit.v1","aggregateId":"a"}`,
		`{"schema":"eventstore.commit.v1","aggregateId":"a","commitId":"c","version":"1"}`,
		`{"schema":"eventstore.commit.v1","aggregateId":"a","commitId":"c","events":[{"type":"t","data":}]}`,
	} {
		if env, err := notifier.Decode([]byte(body)); !errors.Is(err, notifier.ErrInvalidEnvelope) {
			t.Errorf("Decode(%s) = %+v, %v; want ErrInvalidEnvelope", body, env, err)
		}
	}
}

// randomCommit is a commit as Append stores it, for quick.Check.
type randomCommit struct{ eventstore.Commit }

func (randomCommit) Generate(r *rand.Rand, size int) reflect.Value {
	str := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyzé\"\\ #/\n\t<>&\u2028"
		rs := []rune(letters)
		b := make([]rune, 1+r.Intn(12))
		for i := range b {
			b[i] = rs[r.Intn(len(rs))]
		}
		return string(b)
	}
	strMap := func() map[string]string {
		if r.Intn(2) == 0 {
			return nil
		}
		m := map[string]string{}
		for range 1 + r.Intn(3) {
			m[str()] = str()
		}
		return m
	}
	c := eventstore.Commit{
		AggregateID: str(), Version: r.Int63n(1 << 40), CommitID: "01JD5Q6X1Z8W3V4T2S9R7P6N5M",
		CommittedAt: time.UnixMilli(r.Int63n(1 << 44)).UTC(), Metadata: strMap(),
	}
	for range 1 + r.Intn(size%5+1) {
		e := eventstore.Event{Type: str(), Metadata: strMap()}
		if r.Intn(3) > 0 {
			data, _ := json.Marshal(map[string]any{"s": str(), "n": r.Intn(1000), "l": []any{true, nil, 1.5}})
			e.Data = data
		}
		c.Events = append(c.Events, e)
	}
	return reflect.ValueOf(randomCommit{c})
}

// TestEnvelopeRoundTrip: a commit's envelope, marshalled and decoded, is
// the commit again.
func TestEnvelopeRoundTrip(t *testing.T) {
	t.Parallel()
	roundTrip := func(rc randomCommit) bool {
		body, err := json.Marshal(notifier.NewEnvelope(rc.Commit))
		if err != nil {
			t.Logf("marshal: %v", err)
			return false
		}
		env, err := notifier.Decode(body)
		if err != nil {
			t.Logf("decode %s: %v", body, err)
			return false
		}
		if diff := cmp.Diff(rc.Commit, env.Commit()); diff != "" {
			t.Logf("round trip differs (-want +got):\n%s", diff)
			return false
		}
		return true
	}
	if err := quick.Check(roundTrip, &quick.Config{MaxCount: 300}); err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":"eventstore.commit.v1","aggregateId":"a","version":1,"commitId":"c","committedAt":"2024-11-23T15:04:05.123Z","events":[{"type":"t","data":{"x":1}}]}`))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"schema\":\"eventstore.commit.v1\",\"aggregateId\":\"a\",\"commitId\":\"c\"}"}`))
	f.Add([]byte(`{"schema":"eventstore.commit.v1","aggregateId":"a","commitId":"c","eventsOmitted":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := notifier.Decode(body)
		if err != nil {
			if !errors.Is(err, notifier.ErrInvalidEnvelope) {
				t.Fatalf("error %v does not match ErrInvalidEnvelope", err)
			}
			return
		}
		again, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("a decoded envelope does not marshal: %v", err)
		}
		env2, err := notifier.Decode(again)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v\n%s", err, again)
		}
		if !strings.EqualFold(env2.CommitID, env.CommitID) || env2.Version != env.Version || len(env2.Events) != len(env.Events) {
			t.Fatalf("re-decoded %+v, want %+v", env2, env)
		}
	})
}
