// Package s3offload keeps the events of commits too large for a DynamoDB
// item in an S3 bucket: set an *s3offload.Store as eventstore.Config.Offload.
//
//	blobs, err := s3offload.New(s3.NewFromConfig(awsCfg), "my-bucket", "eventstore/")
//	store, err := eventstore.New(dynamodbClient, eventstore.Config{Table: "events", Offload: blobs})
//
// Objects are named by the event store (prefix + a key derived from the
// aggregate, the version and the CommitID); this package only moves bytes.
// IAM: s3:PutObject, s3:GetObject and s3:DeleteObject on the prefix, and
// s3:ListBucket for Keys (a sweep of orphans; see eventstore.Store.Orphaned).
package s3offload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/dynacommit/eventstore"
)

// S3API lists the S3 operations the store calls; *s3.Client satisfies it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3API = (*s3.Client)(nil)

var _ eventstore.SizedBlobStore = (*Store)(nil)

// maxObjectBytes bounds what Get reads, so a wrong object cannot exhaust
// memory: the largest blob the event store writes is its 64 MiB bound of
// Config.MaxCommitBytes, compressed, which DEFLATE grows by 5 bytes a 64
// KiB block at most. The store reads with GetSized, bounded by the size
// the item records.
const maxObjectBytes = 65 << 20

// Store is an eventstore.BlobStore on one S3 bucket. It is safe for
// concurrent use.
type Store struct {
	client S3API
	bucket string
	prefix string
}

// New returns a Store writing to bucket under prefix (may be empty; end it
// with "/" to make a folder). It sends no request.
func New(client S3API, bucket, prefix string) (*Store, error) {
	if client == nil {
		return nil, errors.New("s3offload: nil S3 client")
	}
	if len(bucket) < 3 || len(bucket) > 63 {
		return nil, fmt.Errorf("s3offload: bucket name %q must have 3 to 63 characters", bucket)
	}
	return &Store{client: client, bucket: bucket, prefix: prefix}, nil
}

// Put stores data at key, replacing what was there.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/octet-stream"),
	})
	if err != nil {
		return fmt.Errorf("s3offload: put s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return nil
}

// Get returns the bytes at key; an error wrapping eventstore.ErrBlobNotFound
// if there are none. It reads at most 65 MiB, more than the event store
// writes.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := s.get(ctx, key, maxObjectBytes)
	if errors.Is(err, errTooLarge) {
		err = fmt.Errorf("s3offload: read s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return data, err
}

// GetSized returns the bytes at key if there are at most size; an error
// wrapping eventstore.ErrCorruptCommit if there are more, having read at
// most size+1 of them (none if S3 says the object is larger); an error
// wrapping eventstore.ErrBlobNotFound if there are none.
func (s *Store) GetSized(ctx context.Context, key string, size int64) ([]byte, error) {
	data, err := s.get(ctx, key, min(max(size, 0), maxObjectBytes))
	if errors.Is(err, errTooLarge) {
		err = fmt.Errorf("s3offload: read s3://%s/%s%s: %w: %w", s.bucket, s.prefix, key, eventstore.ErrCorruptCommit, err)
	}
	return data, err
}

// errTooLarge reports an object larger than the read allows.
var errTooLarge = errors.New("object larger than expected")

// get reads the object at key, failing with errTooLarge, unwrapped, past
// limit bytes, of which it reads at most one more.
func (s *Store) get(ctx context.Context, key string, limit int64) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("%w: s3://%s/%s%s", eventstore.ErrBlobNotFound, s.bucket, s.prefix, key)
	}
	if err != nil {
		return nil, fmt.Errorf("s3offload: get s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > limit {
		return nil, fmt.Errorf("%w: %d bytes, want at most %d", errTooLarge, n, limit)
	}
	data, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("s3offload: read s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", errTooLarge, limit)
	}
	return data, nil
}

// Delete removes the object at key; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return fmt.Errorf("s3offload: delete s3://%s/%s%s: %w", s.bucket, s.prefix, key, err)
	}
	return nil
}

// Keys yields the keys of every object under the prefix (without it), for
// a sweep of orphans with eventstore.Store.Orphaned. An error is yielded
// once and ends the sequence.
func (s *Store) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				yield("", fmt.Errorf("s3offload: list s3://%s/%s: %w", s.bucket, s.prefix, err))
				return
			}
			for _, o := range out.Contents {
				if !yield(strings.TrimPrefix(aws.ToString(o.Key), s.prefix), nil) {
					return
				}
			}
		}
	}
}
