// Package s3test gives tests an S3 bucket on the fauxqs emulator (which
// serves S3 beside SNS and SQS; see notifier/snstest for how it is found
// and started), with path-style addressing.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynacommit/eventstore/notifier/snstest"
)

// Client returns an S3 client of the test emulator.
func Client(tb testing.TB, optFns ...func(*s3.Options)) *s3.Client {
	tb.Helper()
	endpoint := snstest.Endpoint(tb)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}}, optFns...)...)
}

// Bucket creates a bucket with a unique name and returns it with the client
// that made it. The emulator is in memory; the bucket is left to it.
func Bucket(tb testing.TB, optFns ...func(*s3.Options)) (*s3.Client, string) {
	tb.Helper()
	client := Client(tb, optFns...)
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "test-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return client, name
}
