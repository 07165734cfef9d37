package eventstore

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
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
)

// Config configures a Store. Zero values mean the documented defaults.
type Config struct {
	// Table is the DynamoDB table name (required, 3-255 characters).
	Table string
	// Index is the scan index name; default DefaultIndex.
	Index string
	// ScanShards is the number of write shards of the scan index of a new
	// table; default DefaultScanShards. On an existing table it must be
	// one of the counts of the table's shard schedule (see Store.Reshard),
	// which decides the shard of every commit.
	ScanShards int
	// Notifier, if set, is told of every commit Append stores.
	Notifier Notifier
	// ReadCapacity and WriteCapacity are the provisioned capacity units
	// CreateTable gives the table and the scan index; both 0 means
	// on-demand (pay per request).
	ReadCapacity, WriteCapacity int64
	// MaxCommitLatency is the writer deadline, a whole number of
	// milliseconds (the table records it in milliseconds, and every store
	// compares its own with it); default DefaultMaxCommitLatency. It also
	// bounds how far ahead of the store's clock a caller-set CommitID may
	// be. See Store.Append.
	MaxCommitLatency time.Duration
	// Settle is the settle window of Scan and Tail when no WithSettle
	// option is given; default MaxCommitLatency + SettleAllowance. It must
	// exceed MaxCommitLatency, and, checked at the first Scan or Tail, be
	// at least the writer deadline the table records plus SettleAllowance.
	Settle time.Duration
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
	// keep taking the next version; default 5.
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
	// default DefaultMaxCommitBytes (16 MiB), at most 64 MiB, the most a
	// read decodes. A larger commit fails with ErrCommitTooLarge, and so
	// does one of more than 100,000 events.
	MaxCommitBytes int
	// Upcasters turn stored events of old schemas into the current ones
	// on every read; what is stored never changes. New refuses two for one
	// type and version, and chains that loop. See Upcaster.
	Upcasters []Upcaster
	// SchemaVersionKey is the event metadata key that holds an event's
	// schema version, which Upcasters select by; default
	// DefaultSchemaVersionKey ("v").
	SchemaVersionKey string

	// upcasters indexes copies of Upcasters by the events they apply to.
	upcasters upcasters
	// reshardLead is ReshardLead, or a test's shorter lead (see
	// export_test.go).
	reshardLead time.Duration

	// now is the clock CommitIDs and the settle window are taken from:
	// time.Now, or a test's clock (see export_test.go).
	now func() time.Time
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
	if c.reshardLead == 0 {
		c.reshardLead = ReshardLead
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.OffloadAbove == 0 {
		c.OffloadAbove = DefaultOffloadAbove
	}
	if c.MaxCommitBytes == 0 {
		c.MaxCommitBytes = DefaultMaxCommitBytes
	}
	if c.AppendNextAttempts == 0 {
		c.AppendNextAttempts = defaultAppendNextAttempts
	}
	if c.SchemaVersionKey == "" {
		c.SchemaVersionKey = DefaultSchemaVersionKey
	}
	c.upcasters = indexUpcasters(c.Upcasters)
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
	if c.MaxCommitLatency%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("eventstore: Config.MaxCommitLatency %v must be a whole number of milliseconds, as the table records it",
			c.MaxCommitLatency))
	}
	if c.Settle <= c.MaxCommitLatency {
		errs = append(errs, fmt.Errorf("eventstore: Config.Settle %v must exceed MaxCommitLatency %v, or a late commit could be skipped",
			c.Settle, c.MaxCommitLatency))
	}
	if c.OffloadAbove < 1024 || c.OffloadAbove > maxItemBytes-16*1024 {
		errs = append(errs, fmt.Errorf("eventstore: Config.OffloadAbove %d must be between 1024 and %d bytes", c.OffloadAbove, maxItemBytes-16*1024))
	}
	if c.MaxCommitBytes < 1 || c.MaxCommitBytes > maxEventsBytes {
		errs = append(errs, fmt.Errorf("eventstore: Config.MaxCommitBytes %d must be between 1 and %d (what a read decodes)", c.MaxCommitBytes, maxEventsBytes))
	}
	return errors.Join(append(errs, c.validateFeatures()...)...)
}

// validateFeatures returns the problems of the optional features' settings.
func (c *Config) validateFeatures() []error {
	var errs []error
	if n := len(c.AggregatesIndex); n != 0 && (n < 3 || n > 255) {
		errs = append(errs, fmt.Errorf("eventstore: Config.AggregatesIndex %q must have 3 to 255 characters", c.AggregatesIndex))
	}
	if c.AggregatesIndex != "" && c.AggregatesIndex == c.Index {
		errs = append(errs, fmt.Errorf("eventstore: Config.AggregatesIndex %q must differ from Config.Index", c.AggregatesIndex))
	}
	if c.TTL < 0 || (c.TTL > 0 && c.TTL <= c.Settle) {
		errs = append(errs, fmt.Errorf("eventstore: Config.TTL %v must be 0 (commits never expire) or exceed Settle %v, or Scan could miss commits",
			c.TTL, c.Settle))
	}
	if c.AppendNextAttempts < 1 {
		errs = append(errs, fmt.Errorf("eventstore: Config.AppendNextAttempts %d must be at least 1", c.AppendNextAttempts))
	}
	if !utf8.ValidString(c.SchemaVersionKey) {
		errs = append(errs, fmt.Errorf("eventstore: Config.SchemaVersionKey %q must be UTF-8", c.SchemaVersionKey))
	}
	return append(errs, validateUpcasters(c.Upcasters)...)
}
