package eventstore

import (
	"bytes"
	"compress/flate"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tinyEvents is the events JSON of n events of the smallest form,
// {"t":"x"}: 10 bytes each, which DEFLATE shrinks about a thousandfold.
func tinyEvents(n int) []byte {
	return []byte("[" + strings.TrimSuffix(strings.Repeat(`{"t":"x"},`, n), ",") + "]")
}

// deflateBest compresses as hard as DEFLATE can, as a hostile writer would.
func deflateBest(raw []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(raw)
	w.Close()
	return buf.Bytes()
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A payload of more events than a commit may hold (the bomb of issue 26:
// 130 KB inflating to 6.7 million events) is refused quickly, having
// inflated and allocated little of it.
func TestDecodeRefusesEventCountBomb(t *testing.T) {
	bomb := deflateBest(tinyEvents(maxEventsBytes / 10))
	if len(bomb) > 200_000 {
		t.Fatalf("the bomb compresses to %d bytes, want a small item", len(bomb))
	}
	var err error
	start := time.Now()
	alloc := allocated(func() { _, err = decodeEvents(&types.AttributeValueMemberB{Value: bomb}) })
	if err == nil || !strings.Contains(err.Error(), "events") {
		t.Fatalf("decoded %d bytes inflating to %d events: %v, want an error", len(bomb), maxEventsBytes/10, err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("refusing the bomb took %v", elapsed)
	}
	if alloc > 32<<20 {
		t.Errorf("refusing the bomb allocated %d MB, want under 32", alloc>>20)
	}
	// The same as plain JSON, as a string attribute can hold at most 400 KB
	// of it: over the count, so refused, whatever the form.
	item := tinyEvents(maxCommitEvents + 1)
	if _, err := decodeEvents(&types.AttributeValueMemberS{Value: string(item)}); err == nil {
		t.Errorf("decoded a string attribute of %d events", maxCommitEvents+1)
	}
	// Elements of 2 bytes ([1,1,...]) count too, though they are no events.
	ones := []byte("[" + strings.TrimSuffix(strings.Repeat("1,", 4*maxCommitEvents), ",") + "]")
	if _, err := decodeEvents(&types.AttributeValueMemberB{Value: deflate(ones)}); err == nil {
		t.Errorf("decoded an array of %d numbers", 4*maxCommitEvents)
	}
}

// decodeStored names the item it refuses, and the bound never refuses what
// the store writes: maxCommitEvents events, and maxEventsBytes of JSON.
func TestDecodeBoundNamesItemAndKeepsWhatTheStoreWrites(t *testing.T) {
	id := newCommitID(time.Now())
	c := Commit{AggregateID: "bomb", Version: 3, CommitID: id.String(), CommittedAt: commitTime(id)}
	item := commitItem(c, 0, &types.AttributeValueMemberB{Value: deflate(tinyEvents(maxCommitEvents + 1))})
	_, _, err := decodeStored(item)
	if !errors.Is(err, ErrCorruptCommit) || !strings.Contains(err.Error(), `"bomb" version 3`) {
		t.Errorf("decodeStored of too many events: %v, want ErrCorruptCommit naming aggregate and version", err)
	}

	cfg := Config{Table: "t"}
	cfg.setDefaults()
	s := &Store{cfg: cfg}
	{
		many := Commit{AggregateID: "many", Events: make([]Event, maxCommitEvents)}
		for i := range many.Events {
			many.Events[i].Type = "x"
		}
		p, err := s.pack(many)
		if err != nil {
			t.Fatalf("pack of %d events: %v", maxCommitEvents, err)
		}
		events, err := decodeEvents(p.events)
		if err != nil || len(events) != maxCommitEvents {
			t.Errorf("decode of %d events packed: %d, %v", maxCommitEvents, len(events), err)
		}
		many.Events = append(many.Events, Event{Type: "x"})
		if _, err := s.pack(many); !errors.Is(err, ErrCommitTooLarge) {
			t.Errorf("pack of %d events: %v, want ErrCommitTooLarge", maxCommitEvents+1, err)
		}
	}

	// The largest JSON a store may write inflates and decodes.
	head, tail := []byte(`[{"t":"x","d":"`), []byte(`"}]`)
	largest := bytes.Join([][]byte{head, bytes.Repeat([]byte("a"), maxEventsBytes-len(head)-len(tail)), tail}, nil)
	if events, err := decodeEvents(&types.AttributeValueMemberB{Value: deflate(largest)}); err != nil || len(events) != 1 {
		t.Errorf("decode of %d bytes of JSON (the largest Config.MaxCommitBytes): %d events, %v", len(largest), len(events), err)
	}
}

// An item recording a blob size no store writes is corrupt, before any
// read of the blob.
func TestDecodeRefusesAnImpossibleBlobSize(t *testing.T) {
	id := newCommitID(time.Now())
	c := Commit{AggregateID: "big", Version: 0, CommitID: id.String(), CommittedAt: commitTime(id)}
	for _, size := range []string{"-1", "1099511627776"} {
		item := commitItem(c, 0, nil)
		delete(item, attrEvents)
		item[attrEventsKey] = &types.AttributeValueMemberS{Value: "k"}
		item[attrEventsSize] = &types.AttributeValueMemberN{Value: size}
		item[attrEventsSum] = &types.AttributeValueMemberS{Value: strings.Repeat("0", 64)}
		if _, _, err := decodeStored(item); !errors.Is(err, ErrCorruptCommit) {
			t.Errorf("decodeStored of eventsSize %s: %v, want ErrCorruptCommit", size, err)
		}
	}
}
