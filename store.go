package eventstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Defaults of Config's zero values.
const (
	// DefaultIndex is the name of the global scan index.
	DefaultIndex = "commitsByCommitId"
	// DefaultScanShards is the number of write shards of the scan index.
	// One index partition takes about 1,000 writes/s, so 4 shards take about
	// 4,000 commits/s before the index throttles writers, while a scan
	// still costs only 4 queries per page round. See README, "Shards".
	DefaultScanShards = 4
	// DefaultMaxCommitLatency is the writer deadline: Append sends no
	// PutItem attempt (the SDK's retries included) once the CommitID's time
	// is older than this, so no commit lands later than this after its
	// CommitID's time. Normal appends take milliseconds; 5 s leaves room
	// for the SDK's retries of throttled or failed attempts.
	DefaultMaxCommitLatency = 5 * time.Second
	// SettleAllowance is what the default settle window adds to the
	// writer deadline: 2 s for clock skew between writer and reader and
	// 3 s for the scan index's propagation lag.
	SettleAllowance = 5 * time.Second
	// DefaultSettle is the settle window of Scan and Tail with the default
	// MaxCommitLatency: 5 s + 5 s. They yield only commits whose CommitID
	// time is older than now minus the window, by which time every commit
	// with an older CommitID has landed in the index. See doc.go, "Settle
	// window".
	DefaultSettle = DefaultMaxCommitLatency + SettleAllowance
)

// DynamoDBAPI lists the DynamoDB operations the store calls. *dynamodb.Client
// satisfies it; tests and users may wrap it.
type DynamoDBAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Notifier announces a stored commit to other services. Append calls it
// after the commit is durable; see NotifyError. Implementations must be safe
// for concurrent use.
type Notifier interface {
	Notify(ctx context.Context, c Commit) error
}

// Config configures a Store. Zero values mean the documented defaults.
type Config struct {
	// Table is the DynamoDB table name (required, 3-255 characters).
	Table string
	// Index is the scan index name; default DefaultIndex.
	Index string
	// ScanShards is the number of write shards of the scan index; default
	// DefaultScanShards. Every store on a table must use the same count.
	ScanShards int
	// Notifier, if set, is told of every commit Append stores.
	Notifier Notifier
	// ReadCapacity and WriteCapacity are the provisioned capacity units
	// CreateTable gives the table and the scan index; both 0 means
	// on-demand (pay per request).
	ReadCapacity, WriteCapacity int64
	// MaxCommitLatency is the writer deadline; default
	// DefaultMaxCommitLatency. See Store.Append.
	MaxCommitLatency time.Duration
	// Settle is the settle window of Scan and Tail when no WithSettle
	// option is given; default MaxCommitLatency + SettleAllowance. It must
	// exceed MaxCommitLatency, and, checked at the first Scan or Tail, be
	// at least the writer deadline the table records plus SettleAllowance.
	Settle time.Duration
	// Now is the clock CommitIDs and the settle window are taken from;
	// default time.Now. A hook for tests.
	Now func() time.Time
	// AggregatesIndex names the sparse index Aggregates lists aggregate
	// ids from (DefaultAggregatesIndex is a good name); "" means none.
	// CreateTable creates it when set. See Store.Aggregates.
	AggregatesIndex string
	// TTL, if positive, makes every commit expire TTL after its
	// CommittedAt: CreateTable enables DynamoDB's Time to Live on the
	// expiresAt attribute, and DynamoDB deletes expired commits, which
	// then disappear from Query and Scan. For ephemeral streams only; it
	// must exceed Settle. See doc.go, "Time to live".
	TTL time.Duration
	// Stream makes CreateTable enable DynamoDB Streams with new images,
	// which ParseImage turns back into commits.
	Stream bool
	// AppendNextAttempts bounds the appends AppendNext tries when others
	// keep taking the next version; default DefaultAppendNextAttempts.
	AppendNextAttempts int
	// Observer, if set, hears of every operation: requests, consumed
	// capacity, retries, conflicts, ... See Observer.
	Observer Observer
	// Offload, if set, keeps the events of large commits outside the
	// table (s3offload.Store keeps them in S3): a commit whose encoded
	// events exceed OffloadAbove stores them there, and its item keeps a
	// pointer, their size and a SHA-256. Without it, a commit over the item
	// limit fails with ErrCommitTooLarge. See doc.go, "Large commits".
	Offload BlobStore
	// OffloadAbove is the size of encoded (compressed) events past which
	// they go to Offload; default DefaultOffloadAbove (256 KiB).
	OffloadAbove int
	// MaxCommitBytes bounds a commit's events, as JSON before compression;
	// default DefaultMaxCommitBytes (16 MiB). A larger commit fails with
	// ErrCommitTooLarge.
	MaxCommitBytes int
}

func (c *Config) setDefaults() {
	if c.Index == "" {
		c.Index = DefaultIndex
	}
	if c.ScanShards == 0 {
		c.ScanShards = DefaultScanShards
	}
	if c.MaxCommitLatency == 0 {
		c.MaxCommitLatency = DefaultMaxCommitLatency
	}
	if c.Settle == 0 {
		c.Settle = c.MaxCommitLatency + SettleAllowance
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OffloadAbove == 0 {
		c.OffloadAbove = DefaultOffloadAbove
	}
	if c.MaxCommitBytes == 0 {
		c.MaxCommitBytes = DefaultMaxCommitBytes
	}
	if c.AppendNextAttempts == 0 {
		c.AppendNextAttempts = DefaultAppendNextAttempts
	}
}

// validate reports every problem at once.
func (c *Config) validate() error {
	var errs []error
	if n := len(c.Table); n < 3 || n > 255 {
		errs = append(errs, fmt.Errorf("eventstore: Config.Table %q must have 3 to 255 characters", c.Table))
	}
	if n := len(c.Index); n < 3 || n > 255 {
		errs = append(errs, fmt.Errorf("eventstore: Config.Index %q must have 3 to 255 characters", c.Index))
	}
	if c.ScanShards < 1 {
		errs = append(errs, fmt.Errorf("eventstore: Config.ScanShards %d must be at least 1", c.ScanShards))
	}
	if c.ReadCapacity < 0 || c.WriteCapacity < 0 || (c.ReadCapacity == 0) != (c.WriteCapacity == 0) {
		errs = append(errs, fmt.Errorf("eventstore: Config.ReadCapacity %d and WriteCapacity %d must both be 0 (on-demand) or both positive",
			c.ReadCapacity, c.WriteCapacity))
	}
	if c.MaxCommitLatency < 0 {
		errs = append(errs, fmt.Errorf("eventstore: Config.MaxCommitLatency %v must not be negative", c.MaxCommitLatency))
	}
	if c.Settle <= c.MaxCommitLatency {
		errs = append(errs, fmt.Errorf("eventstore: Config.Settle %v must exceed MaxCommitLatency %v, or a late commit could be skipped",
			c.Settle, c.MaxCommitLatency))
	}
	if c.OffloadAbove < 1024 || c.OffloadAbove > maxItemBytes-16*1024 {
		errs = append(errs, fmt.Errorf("eventstore: Config.OffloadAbove %d must be between 1024 and %d bytes", c.OffloadAbove, maxItemBytes-16*1024))
	}
	if c.MaxCommitBytes < 1 {
		errs = append(errs, fmt.Errorf("eventstore: Config.MaxCommitBytes %d must be positive", c.MaxCommitBytes))
	}
	return errors.Join(append(errs, c.validateFeatures()...)...)
}

// Store is an event store on one DynamoDB table. It is safe for concurrent
// use.
type Store struct {
	client DynamoDBAPI
	cfg    Config
	shards shardCheck
	seen   *lastSeen // the newest commit seen per aggregate; see predecessor
}

// New returns a Store on the table cfg names, using client for every
// request. It sends no request; call CreateTable to create the table. It
// returns an error listing every problem of cfg.
func New(client DynamoDBAPI, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("eventstore: nil DynamoDB client")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Store{client: client, cfg: cfg, seen: newLastSeen(defaultLastSeen)}
	if cfg.Observer != nil {
		s.client = &observedClient{next: client, s: s}
	}
	return s, nil
}

// shardOf is the scan index shard of an aggregate: a hash of its id, so
// all of an aggregate's commits land in one shard.
func (s *Store) shardOf(aggregateID string) int {
	h := fnv.New32a()
	h.Write([]byte(aggregateID))
	return int(h.Sum32() % uint32(s.cfg.ScanShards))
}
