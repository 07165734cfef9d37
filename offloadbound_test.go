package eventstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/s3offload"
	"github.com/dynacommit/eventstore/s3offload/s3test"
)

// readCountingS3 counts the bytes read from the bodies of GetObject.
type readCountingS3 struct {
	*s3.Client
	read atomic.Int64
}

func (c *readCountingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.Client.GetObject(ctx, in, optFns...)
	if err == nil {
		out.Body = &countingBody{ReadCloser: out.Body, n: &c.read}
	}
	return out, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// An object larger than the item records is refused as a corrupt commit
// having read no more of it than the recorded size and a byte.
func TestOffloadReadIsBoundedByTheRecordedSize(t *testing.T) {
	t.Parallel()
	client, bucket := s3test.Bucket(t)
	counting := &readCountingS3{Client: client}
	blobs, err := s3offload.New(counting, bucket, "events/")
	if err != nil {
		t.Fatal(err)
	}
	s, _, _ := newStore(t, eventstore.Config{Offload: blobs})
	mustAppend(t, s, bigCommit("swollen", 0, 500<<10))
	var key string
	for k, err := range blobs.Keys(ctxT(t)) {
		if err != nil {
			t.Fatal(err)
		}
		key = k // the only one
	}
	stored, err := blobs.Get(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	swollen := append(stored, bytes.Repeat([]byte{0}, 8<<20)...)
	if _, err := client.PutObject(ctxT(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("events/" + key),
		Body: bytes.NewReader(swollen)}); err != nil {
		t.Fatal(err)
	}
	counting.read.Store(0)
	var got error
	for _, err := range s.Query(ctxT(t), "swollen", 0) {
		got = err
	}
	if !errors.Is(got, eventstore.ErrCorruptCommit) {
		t.Errorf("Query of a commit whose object grew by 8 MB: %v, want ErrCorruptCommit", got)
	}
	if read := counting.read.Load(); read > int64(len(stored))+1 {
		t.Errorf("read %d bytes of the object, want at most the %d recorded and one", read, len(stored))
	}
}
