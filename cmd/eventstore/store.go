package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dynacommit/eventstore"
	"github.com/dynacommit/eventstore/s3offload"
)

// The table's metadata item (see the root package's table.go): version -1
// of a reserved aggregate, holding the settings the table was created with.
const (
	metaAggregateID = "$eventstore"
	metaVersion     = "-1"
)

// options are the global flags.
type options struct {
	table, endpoint, region, profile string
	bucket, prefix, s3Endpoint       string
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.table, "table", os.Getenv("EVENTSTORE_TABLE"), "")
	fs.StringVar(&o.endpoint, "endpoint", os.Getenv("DYNAMODB_ENDPOINT"), "")
	fs.StringVar(&o.region, "region", "", "")
	fs.StringVar(&o.profile, "profile", "", "")
	fs.StringVar(&o.bucket, "bucket", "", "")
	fs.StringVar(&o.prefix, "prefix", "", "")
	fs.StringVar(&o.s3Endpoint, "s3-endpoint", "", "")
}

// conn is an open table: the raw client for what the library does not
// offer, and a store configured as the table was created.
type conn struct {
	client *dynamodb.Client
	store  *eventstore.Store
	table  *types.TableDescription
	meta   map[string]types.AttributeValue // the metadata item; nil if none
	shards int                             // the table's scan shards: recorded, else the default
	sched  eventstore.ShardSchedule        // the table's shard schedule (see reshard.go)
	blobs  *s3offload.Store                // nil without -bucket
}

// awsConfig loads the standard AWS configuration, with -region and
// -profile.
func awsConfig(ctx context.Context, o options) (aws.Config, error) {
	var loads []func(*config.LoadOptions) error
	if o.region != "" {
		loads = append(loads, config.WithRegion(o.region))
	}
	if o.profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return cfg, fmt.Errorf("AWS config: %w", err)
	}
	return cfg, nil
}

// dynamoClient is a client of -endpoint, or of AWS's endpoint.
func dynamoClient(cfg aws.Config, o options) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(d *dynamodb.Options) {
		if o.endpoint != "" {
			d.BaseEndpoint = aws.String(o.endpoint)
			// DynamoDB Local sends a CRC32 of 0 with some error
			// responses, which the SDK would log as a mismatch.
			d.DisableValidateResponseChecksum = true
		}
	})
}

// open connects to the table and configures a store as the table says:
// its recorded ScanShards, its aggregates index if it has one.
func open(ctx context.Context, o options) (*conn, error) {
	cfg, err := awsConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	c := &conn{client: dynamoClient(cfg, o)}
	desc, err := c.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.table)})
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", o.table, err)
	}
	c.table = desc.Table
	storeCfg := eventstore.Config{Table: o.table}
	storeCfg.AggregatesIndex = aggregatesIndex(c.table)
	if c.meta, err = readMeta(ctx, c.client, o.table); err != nil {
		return nil, err
	}
	if n, ok := c.meta["scanShards"].(*types.AttributeValueMemberN); ok {
		if storeCfg.ScanShards, err = strconv.Atoi(n.Value); err != nil {
			return nil, fmt.Errorf("table %s records scanShards %q", o.table, n.Value)
		}
	}
	c.shards = cmp.Or(storeCfg.ScanShards, eventstore.DefaultScanShards)
	if o.bucket != "" {
		s3c := s3.NewFromConfig(cfg, func(so *s3.Options) {
			if o.s3Endpoint != "" {
				so.BaseEndpoint = aws.String(o.s3Endpoint)
				so.UsePathStyle = true
			}
		})
		if c.blobs, err = s3offload.New(s3c, o.bucket, o.prefix); err != nil {
			return nil, err
		}
		storeCfg.Offload = c.blobs
	}
	if c.store, err = eventstore.New(c.client, storeCfg); err != nil {
		return nil, err
	}
	if err := c.learnSchedule(ctx, &storeCfg); err != nil {
		return nil, err
	}
	return c, nil
}

func readMeta(ctx context.Context, client *dynamodb.Client, table string) (map[string]types.AttributeValue, error) {
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			"aggregateId": &types.AttributeValueMemberS{Value: metaAggregateID},
			"version":     &types.AttributeValueMemberN{Value: metaVersion},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("table %s: read its metadata item: %w", table, err)
	}
	return out.Item, nil
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// isCancel reports whether err is the end of a command by a signal.
func isCancel(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()))
}

func stringOf(item map[string]types.AttributeValue, name string) (string, bool) {
	s, ok := item[name].(*types.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return s.Value, true
}

func numberOf(item map[string]types.AttributeValue, name string) (string, bool) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return "", false
	}
	return n.Value, true
}
