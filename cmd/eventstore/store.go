package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
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
	// upcast: the store applies upcasters (cat, log and export, unless
	// -raw); the other commands read and write what is stored.
	upcast bool
}

// envOptions are the defaults of the global flags, from the environment.
func envOptions() options {
	return options{table: os.Getenv("EVENTSTORE_TABLE"), endpoint: os.Getenv("DYNAMODB_ENDPOINT")}
}

// register adds the global flags to fs, each defaulting to its current
// value: the main flag set and every command's take them.
func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.table, "table", o.table, "")
	fs.StringVar(&o.endpoint, "endpoint", o.endpoint, "")
	fs.StringVar(&o.region, "region", o.region, "")
	fs.StringVar(&o.profile, "profile", o.profile, "")
	fs.StringVar(&o.bucket, "bucket", o.bucket, "")
	fs.StringVar(&o.prefix, "prefix", o.prefix, "")
	fs.StringVar(&o.s3Endpoint, "s3-endpoint", o.s3Endpoint, "")
}

// check checks the global flags once they are parsed, and gives a
// host:port endpoint its http:// scheme.
func (o *options) check() error {
	if o.table == "" {
		return usagef("no table: set -table NAME (before or after the command) or EVENTSTORE_TABLE")
	}
	for _, ep := range []*string{&o.endpoint, &o.s3Endpoint} {
		if *ep == "" {
			continue
		}
		u, err := endpointURL(*ep)
		if err != nil {
			return err
		}
		*ep = u.String()
	}
	return nil
}

// endpointURL parses an endpoint: a URL of scheme http or https, or a
// host:port, taken as http://host:port (local servers speak plain HTTP).
func endpointURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, usagef("endpoint %q: want a URL such as http://127.0.0.1:8000, or host:port", s)
	}
	return u, nil
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
	puts   *putWatch                       // the store's client
}

// awsConfig loads the standard AWS configuration, with -region and
// -profile. For a local -endpoint (not an AWS host) it never asks EC2's
// instance metadata service, and when no credentials are configured it
// signs with static dummy ones (DynamoDB Local accepts any), in region
// us-east-1 unless one is set.
func awsConfig(ctx context.Context, o options) (aws.Config, error) {
	var loads []func(*config.LoadOptions) error
	if o.region != "" {
		loads = append(loads, config.WithRegion(o.region))
	}
	if o.profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(o.profile))
	}
	local := isLocal(o.endpoint)
	if local {
		loads = append(loads, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return cfg, fmt.Errorf("AWS config: %w", err)
	}
	if local {
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
	}
	return cfg, nil
}

// isLocal reports whether endpoint is set and not an AWS host: a local
// server such as DynamoDB Local.
func isLocal(endpoint string) bool {
	u, err := endpointURL(endpoint)
	if endpoint == "" || err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, aws := range []string{".amazonaws.com", ".amazonaws.com.cn", ".api.aws"} {
		if strings.HasSuffix(host, aws) {
			return false
		}
	}
	return true
}

// dynamoClient is a client of -endpoint, or of AWS's endpoint. An
// endpoint where nothing listens is an error at once, rather than after
// the SDK's retries.
func dynamoClient(ctx context.Context, cfg aws.Config, o options) (*dynamodb.Client, error) {
	if o.endpoint != "" {
		if err := reachable(ctx, o.endpoint); err != nil {
			return nil, err
		}
	}
	return dynamodb.NewFromConfig(cfg, func(d *dynamodb.Options) {
		if o.endpoint != "" {
			d.BaseEndpoint = aws.String(o.endpoint)
			// DynamoDB Local sends a CRC32 of 0 with some error
			// responses, which the SDK would log as a mismatch.
			d.DisableValidateResponseChecksum = true
		}
	}), nil
}

// reachable opens one TCP connection to endpoint's host and port.
func reachable(ctx context.Context, endpoint string) error {
	u, err := endpointURL(endpoint)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := new(net.Dialer).DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return unreachable(endpoint, err)
	}
	return c.Close()
}

// unreachable is the error of an endpoint where nothing answers.
func unreachable(endpoint string, err error) error {
	cause := err.Error()
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "connection refused"
	case errors.Is(err, context.DeadlineExceeded):
		cause = "no answer within 3s"
	}
	hint := "check -endpoint"
	if isLocal(endpoint) {
		hint = "is DynamoDB Local running? go run " + serveCommand + " starts one"
	}
	return fmt.Errorf("nothing answers at %s (%s); %s", endpoint, cause, hint)
}

// serveCommand starts DynamoDB Local for a program (see docs/cli.md).
const serveCommand = "github.com/dynacommit/eventstore/dynamotest/serve"

// open connects to the table and configures a store as the table says:
// its recorded ScanShards, its aggregates index if it has one.
func open(ctx context.Context, o options) (*conn, error) {
	cfg, err := awsConfig(ctx, o)
	if err != nil {
		return nil, err
	}
	client, err := dynamoClient(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	c := &conn{client: client, puts: &putWatch{DynamoDBAPI: client}}
	desc, err := c.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.table)})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		where := "region " + cfg.Region
		if o.endpoint != "" {
			where = o.endpoint
		}
		return nil, fmt.Errorf("table %s not found at %s; import -create makes it: eventstore -table %s import -create FILE",
			o.table, where, o.table)
	}
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
	if o.upcast {
		storeCfg.Upcasters, storeCfg.SchemaVersionKey = upcasters, schemaVersionKey
	}
	if c.store, err = eventstore.New(c.puts, storeCfg); err != nil {
		return nil, err
	}
	if err := c.learnSchedule(ctx, &storeCfg); err != nil {
		return nil, err
	}
	return c, nil
}

// putWatch is the store's client: it notes whether a PutItem found its
// key taken, which tells an Import that succeeded without writing (the
// commit was there already) from one that wrote it.
type putWatch struct {
	eventstore.DynamoDBAPI
	taken atomic.Bool
}

func (p *putWatch) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := p.DynamoDBAPI.PutItem(ctx, in, optFns...)
	var taken *types.ConditionalCheckFailedException
	if errors.As(err, &taken) {
		p.taken.Store(true)
	}
	return out, err
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
