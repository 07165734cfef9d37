package eventstore

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBAPI lists the DynamoDB operations the store calls. *dynamodb.Client
// satisfies it; tests and users may wrap it, passing the options of each
// call on to the client (Config.Observer's middleware travels in them).
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

// Store is an event store on one DynamoDB table. It is safe for concurrent
// use.
type Store struct {
	client DynamoDBAPI
	// opts are the client options of every request: the Observer's
	// middleware, or none.
	opts   []func(*dynamodb.Options)
	cfg    Config
	shards shardCheck
	sched  knownSchedule // see scheduleThrough
	seen   *lastSeen     // the newest commit seen per aggregate; see predecessor
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
	s := &Store{client: &tableClient{api: client, table: cfg.Table}, cfg: cfg, seen: newLastSeen(defaultLastSeen)}
	if cfg.Observer != nil {
		s.opts = []func(*dynamodb.Options){s.observeRequests}
	}
	return s, nil
}

// shardOf is the scan index shard of a commit: a hash of its aggregate's
// id modulo the count in force at its CommitID (see ShardSchedule), so
// all of an aggregate's commits of one epoch land in one shard. The
// writers make sure the store knows the schedule at the CommitID first
// (scheduleFor).
func (s *Store) shardOf(aggregateID, commitID string) int {
	return s.current().Shard(aggregateID, commitID)
}
