package projection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore"
)

// DynamoDBAPI lists the DynamoDB operations the projection package calls
// on its own items. *dynamodb.Client satisfies it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Defaults of Config's zero values, and limits.
const (
	// DefaultPartitions is the number of partitions of the log.
	DefaultPartitions = 8
	// MaxPartitions is the most partitions a consumer may have.
	MaxPartitions = 1024
	// DefaultLeaseDuration is how long a partition's lease lasts
	// unrenewed: a crashed process's partitions are taken over at most
	// this long (plus a third of it) after its last renewal.
	DefaultLeaseDuration = 10 * time.Second
	// DefaultMaxAttempts is how many times a commit is handed to the
	// handler before its aggregate is parked.
	DefaultMaxAttempts = 5
	// DefaultRetryDelay is the first pause between two attempts; it
	// doubles at each one, up to 5 s.
	DefaultRetryDelay = 100 * time.Millisecond
	// DefaultCheckpointEvery is the least time between two checkpoint
	// writes of a partition.
	DefaultCheckpointEvery = time.Second
)

// Handler handles one commit of the log. See Config.Handler.
type Handler interface {
	Handle(ctx context.Context, c eventstore.Commit) error
}

// HandlerFunc is a Handler made of a function.
type HandlerFunc func(ctx context.Context, c eventstore.Commit) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, c eventstore.Commit) error { return f(ctx, c) }

// Progress is what a partition reports to Config.OnProgress.
type Progress struct {
	Consumer  string
	Partition int
	// Checkpoint is the stored checkpoint: every commit of the partition
	// up to it was handled or belongs to a parked aggregate ("" for the
	// beginning).
	Checkpoint string
	// CaughtUp is true once this term handled every commit that was in
	// the log when it started (the rebuild is over) and the partition
	// follows the log live.
	CaughtUp bool
	// Lag is how old the last commit handled was when it was handled:
	// while rebuilding, how far behind the partition is; once caught up,
	// the delay from Append to handler (100-300 ms typically).
	Lag time.Duration
	// Handled counts the commits handed to the handler in this term.
	Handled int64
	// Parked is the number of aggregates parked in the partition.
	Parked int
}

// Config configures a Runner. Zero values mean the documented defaults.
type Config struct {
	// Store is the event store whose log the consumer reads (required).
	Store *eventstore.Store
	// DynamoDB reads and writes the consumer's items (required), in Table.
	DynamoDB DynamoDBAPI
	// Table holds the consumer's items (required): the event store's own
	// table, where they are invisible to Query, Scan and Tail.
	Table string
	// Name identifies the consumer (required): processes with one Name
	// share its partitions, checkpoints and parked aggregates.
	Name string
	// Handler is called with each commit (required); see doc.go,
	// "Handlers". It must be safe for concurrent use: partitions are
	// handled in parallel, each aggregate's commits one at a time.
	Handler Handler
	// Partitions is the number of partitions of the log (default
	// DefaultPartitions, at most MaxPartitions): the most processes that
	// can share the work. It is stored with the consumer's state, and
	// every process of the consumer must use the same.
	Partitions int
	// From is the exclusive checkpoint a partition starts from when none
	// is stored: "" the beginning of the log, or a CommitID.
	From string
	// LeaseDuration is how long a partition's lease lasts unrenewed
	// (default DefaultLeaseDuration, at least 300 ms).
	LeaseDuration time.Duration
	// MaxAttempts is how many times a commit is handed to the handler
	// before its aggregate is parked (default DefaultMaxAttempts).
	MaxAttempts int
	// RetryDelay is the first pause between attempts, doubling up to 5 s
	// (default DefaultRetryDelay).
	RetryDelay time.Duration
	// CheckpointEvery is the least time between two checkpoint writes of
	// a partition (default DefaultCheckpointEvery).
	CheckpointEvery time.Duration
	// OnProgress, if set, is called after each checkpoint write of a
	// partition, and when it catches up. It is called from several
	// goroutines and must be quick.
	OnProgress func(Progress)
	// OnError, if set, is told of every error the runner retries (a
	// failed lease or checkpoint write, a failed handler attempt, a lost
	// lease). It is called from several goroutines.
	OnError func(error)
}

func (c *Config) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("projection: Config.Store is required"))
	}
	if c.DynamoDB == nil {
		errs = append(errs, errors.New("projection: Config.DynamoDB is required"))
	}
	if c.Handler == nil {
		errs = append(errs, errors.New("projection: Config.Handler is required"))
	}
	errs = append(errs, validName(c.Table, c.Name))
	if c.Partitions < 1 || c.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("projection: Config.Partitions %d must be 1 to %d", c.Partitions, MaxPartitions))
	}
	if c.From != "" && !validCommitID(c.From) {
		errs = append(errs, fmt.Errorf("projection: Config.From %q is not a CommitID", c.From))
	}
	if c.LeaseDuration < 300*time.Millisecond {
		errs = append(errs, fmt.Errorf("projection: Config.LeaseDuration %v must be at least 300ms", c.LeaseDuration))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("projection: Config.MaxAttempts %d must be at least 1", c.MaxAttempts))
	}
	if c.RetryDelay < 0 || c.CheckpointEvery < 0 {
		errs = append(errs, errors.New("projection: Config.RetryDelay and CheckpointEvery must not be negative"))
	}
	return errors.Join(errs...)
}

// validName checks a table and a consumer name.
func validName(table, name string) error {
	var errs []error
	if n := len(table); n < 3 || n > 255 {
		errs = append(errs, fmt.Errorf("projection: table %q must have 3 to 255 characters", table))
	}
	if name == "" || len(consumerID(name)) > 2048 {
		errs = append(errs, fmt.Errorf("projection: name must have 1 to %d bytes", 2048-len(consumerPrefix)))
	}
	return errors.Join(errs...)
}
