package eventstore_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/dynamotest"
)

// bombEvents is 64 MiB of the smallest events, {"t":"x"}, compressed as
// hard as DEFLATE can: 130,294 bytes inflating to 6,710,886 events.
func bombEvents() []byte {
	raw := "[" + strings.TrimSuffix(strings.Repeat(`{"t":"x"},`, 64<<20/10), ",") + "]"
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write([]byte(raw))
	w.Close()
	return buf.Bytes()
}

// A hostile item, written raw, whose events inflate to millions: Query,
// Scan and DecodeItem refuse it as a corrupt commit naming it, quickly and
// having allocated little (issue 26: it took 8.8 s and 2 GB).
func TestCompressionBombIsRefusedCheaply(t *testing.T) {
	t.Parallel()
	s, client, table := newStore(t, eventstore.Config{})
	mustAppend(t, s, commit("bomb", 0))
	out, err := client.GetItem(ctxT(t), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"aggregateId": &types.AttributeValueMemberS{Value: "bomb"}, "version": &types.AttributeValueMemberN{Value: "0"}}})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem: %v", err)
	}
	item := out.Item
	item["events"] = &types.AttributeValueMemberB{Value: bombEvents()}
	if _, err := client.PutItem(ctxT(t), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem of the bomb: %v", err)
	}
	read := map[string]func() error{
		"Query": func() error {
			for _, err := range s.Query(ctxT(t), "bomb", 0) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"Scan": func() error {
			for _, err := range s.Scan(ctxT(t), "", eventstore.WithSettle(0)) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		"DecodeItem": func() error {
			_, err := s.DecodeItem(ctxT(t), item)
			return err
		},
	}
	for name, f := range read {
		var err error
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		err = f()
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, eventstore.ErrCorruptCommit) || !strings.Contains(err.Error(), `"bomb" version 0`) {
			t.Errorf("%s of the bomb: %v, want ErrCorruptCommit naming aggregate and version", name, err)
		}
		// Other tests run in parallel: the bound is generous, the bomb
		// alone allocated 2 GB.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
			t.Errorf("%s of the bomb allocated %d MB, want under 128", name, alloc>>20)
		}
		if elapsed > 5*time.Second {
			t.Errorf("%s of the bomb took %v", name, elapsed)
		}
	}
}

// Config.MaxCommitBytes may not pass what a read decodes (64 MiB), or a
// store could write commits it cannot read back.
func TestMaxCommitBytesIsBoundedByWhatReadsDecode(t *testing.T) {
	client := dynamotest.Client(t)
	if _, err := eventstore.New(client, eventstore.Config{Table: "events", MaxCommitBytes: 64 << 20}); err != nil {
		t.Errorf("MaxCommitBytes of 64 MiB: %v", err)
	}
	if _, err := eventstore.New(client, eventstore.Config{Table: "events", MaxCommitBytes: 64<<20 + 1}); err == nil ||
		!strings.Contains(err.Error(), "MaxCommitBytes") {
		t.Errorf("MaxCommitBytes over 64 MiB: %v, want an error naming it", err)
	}
}
