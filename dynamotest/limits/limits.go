// Package limits simulates DynamoDB's per-partition throughput limits and its
// global secondary index lag in front of a server that enforces neither, such
// as DynamoDB Local, so that tests and benchmarks meet throttling and stale
// index reads before production does.
//
// A Simulator is an http.RoundTripper wrapper. Every PutItem, UpdateItem,
// DeleteItem, BatchWriteItem and TransactWriteItems is charged write units
// (1 per started KB of the item, DynamoDB's item size rules, transactions
// double) to a token bucket per partition key value of the table and of each
// global secondary index the item lands in; GetItem, Query, BatchGetItem and
// TransactGetItems are charged read units (per started 4 KB returned,
// strongly consistent 1, eventually consistent 0.5, transactions double).
// An empty bucket answers as DynamoDB does, HTTP 400
// ProvisionedThroughputExceededException, and the write is not forwarded. A
// Query on a global secondary index does not see an item until a sampled lag
// after its write.
//
// # Scale
//
// On AWS one partition serves at most 1,000 WCU/s and 3,000 RCU/s. DynamoDB
// Local serves about 1,000 puts/s on 2 cores, so the default Config.Scale is
// 0.1: 100 WCU/s and 300 RCU/s per partition key value.
//
// # Caveats
//
// Key schemas are learnt with DescribeTable through the wrapped transport and
// cached per table name. Scan, PartiQL and the control plane pass through
// uncharged. Adaptive capacity, on-demand warm throughput, table-level
// limits and partition splits are not simulated. See docs/limits.md.
package limits

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/dynacommit/eventstore/dynamotest"
)

// Config configures a Simulator. Its zero value means the documented
// defaults.
type Config struct {
	// Scale multiplies DynamoDB's per-partition limits (WriteUnits and
	// ReadUnits). Zero means 0.1.
	Scale float64
	// WriteUnits is the write units per second one partition key value of a
	// table or index serves before scaling. Zero means 1,000, DynamoDB's
	// figure.
	WriteUnits float64
	// ReadUnits is the read units per second one partition key value serves
	// before scaling. Zero means 3,000, DynamoDB's figure.
	ReadUnits float64
	// Burst is how many seconds of capacity a bucket holds, so a key idle
	// for that long may spend it at once. Zero means 1 s. DynamoDB keeps up
	// to 300 s of unused capacity, but only for provisioned tables, shared
	// by the partition and best effort; a test that wants the steady-state
	// limit within seconds needs a small burst.
	Burst time.Duration
	// Lag is the model of global secondary index lag.
	Lag Lag
	// Now is the clock of the buckets and of the lag model. Nil means
	// time.Now.
	Now func() time.Time
}

// Simulator enforces DynamoDB's per-partition limits on the requests that go
// through its Transport, and counts what they consume. It is safe for
// concurrent use.
type Simulator struct {
	cfg                   Config
	writeRate, readRate   float64 // units per second
	writeBurst, readBurst float64 // bucket capacities

	schemas schemaCache

	mu       sync.Mutex
	buckets  map[bucketKey]*bucket
	swept    int // bucket insertions since the last sweep
	counters map[Key]Counter
	lag      lagState
}

// New returns a Simulator with the limits of cfg. It returns an error
// listing every invalid field of cfg: negative, NaN or infinite numbers, or
// a Lag whose quantiles are out of order.
func New(cfg Config) (*Simulator, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:       cfg,
		writeRate: cfg.Scale * cfg.WriteUnits,
		readRate:  cfg.Scale * cfg.ReadUnits,
		buckets:   map[bucketKey]*bucket{},
		counters:  map[Key]Counter{},
		schemas:   schemaCache{tables: map[string]*schema{}},
	}
	s.writeBurst = s.writeRate * cfg.Burst.Seconds()
	s.readBurst = s.readRate * cfg.Burst.Seconds()
	s.lag = newLagState(cfg.Lag)
	return s, nil
}

func (c *Config) setDefaults() {
	if c.Scale == 0 {
		c.Scale = 0.1
	}
	if c.WriteUnits == 0 {
		c.WriteUnits = 1000
	}
	if c.ReadUnits == 0 {
		c.ReadUnits = 3000
	}
	if c.Burst == 0 {
		c.Burst = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Lag.setDefaults()
}

func (c *Config) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{{"Scale", c.Scale}, {"WriteUnits", c.WriteUnits}, {"ReadUnits", c.ReadUnits}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("limits: Config.%s %v must be a finite number >= 0", f.name, f.v))
		}
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("limits: Config.Burst %v must be >= 0", c.Burst))
	}
	errs = append(errs, c.Lag.validate())
	return errors.Join(errs...)
}

// Transport returns a RoundTripper that applies the simulator's limits to
// the DynamoDB requests it sends through base (http.DefaultTransport when
// nil). Several transports of one Simulator share its buckets.
func (s *Simulator) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{sim: s, base: base}
}

// Install puts the simulator in front of the HTTP client of o. Pass it
// among a client's option functions, for instance
// dynamotest.Client(t, sim.Install).
func (s *Simulator) Install(o *dynamodb.Options) {
	o.HTTPClient = &http.Client{Transport: s.Transport(baseTransport(o.HTTPClient))}
}

// baseTransport returns the RoundTripper under an SDK HTTP client.
func baseTransport(c dynamodb.HTTPClient) http.RoundTripper {
	switch c := c.(type) {
	case nil:
		return awshttp.NewBuildableClient().GetTransport()
	case *awshttp.BuildableClient:
		return c.GetTransport()
	case *http.Client:
		if c.Transport != nil {
			return c.Transport
		}
		return http.DefaultTransport
	default:
		return doer{c}
	}
}

// doer adapts any SDK HTTP client to a RoundTripper.
type doer struct{ c dynamodb.HTTPClient }

func (d doer) RoundTrip(r *http.Request) (*http.Response, error) { return d.c.Do(r) }

// NewClient returns a client of the DynamoDB at endpoint (a local server:
// static credentials) whose requests go through the simulator. optFns may
// change its options further.
func (s *Simulator) NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamotest.NewClient(endpoint, append([]func(*dynamodb.Options){s.Install}, optFns...)...)
}
