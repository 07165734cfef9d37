package s3offload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/notifier/snstest"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

func TestMain(m *testing.M) { os.Exit(snstest.Main(m)) }

func TestPutGetDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, bucket := s3test.Bucket(t)
	store, err := s3offload.New(client, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0, 1, 2, 0xff}, 300_000)
	if err := store.Put(ctx, "a/0/x", data); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, "a/0/x")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	if err := store.Delete(ctx, "a/0/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Get(ctx, "a/0/x"); !errors.Is(err, eventstore.ErrBlobNotFound) {
		t.Errorf("Get after Delete: %v, want ErrBlobNotFound", err)
	}
	if err := store.Delete(ctx, "a/0/x"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	if _, err := s3offload.New(nil, "bucket", ""); err == nil {
		t.Error("New accepted a nil client")
	}
	if _, err := s3offload.New(s3test.Client(t), "b", ""); err == nil {
		t.Error("New accepted a one-letter bucket")
	}
}

// GetSized reads no more of an object than the size the item records and
// a byte: a larger object is ErrCorruptCommit.
func TestGetSizedRefusesALargerObject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, bucket := s3test.Bucket(t)
	store, err := s3offload.New(client, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("abcd"), 1<<20)
	if err := store.Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetSized(ctx, "k", int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetSized at the object's size = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	if got, err := store.GetSized(ctx, "k", 1000); !errors.Is(err, eventstore.ErrCorruptCommit) || got != nil {
		t.Errorf("GetSized of a %d-byte object as 1000 bytes = %d bytes, %v; want ErrCorruptCommit", len(data), len(got), err)
	}
	if _, err := store.GetSized(ctx, "missing", 1000); !errors.Is(err, eventstore.ErrBlobNotFound) {
		t.Errorf("GetSized of a missing key: %v, want ErrBlobNotFound", err)
	}
}
