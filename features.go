package eventstore

import (
	"fmt"
	"maps"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The optional features of Config (aggregates index, TTL, stream,
// AppendNext) in the table, its items and the configuration.

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
	return errs
}

// encoded is a commit ready to write: its item and, when its events are
// offloaded, the blob to store first under blobKey.
type encoded struct {
	item    map[string]types.AttributeValue
	blobKey string
	blob    []byte
}

// packed is a commit's events, encoded: their JSON and the attribute it is
// stored as. They depend on neither the version nor the CommitID, so they
// are encoded once per commit, whatever is retried.
type packed struct {
	raw    []byte
	events types.AttributeValue
}

// pack encodes the events of a validated commit, within
// Config.MaxCommitBytes.
func (s *Store) pack(c Commit) (packed, error) {
	raw, err := eventsJSON(c)
	if err != nil {
		return packed{}, err
	}
	if len(raw) > s.cfg.MaxCommitBytes {
		return packed{}, fmt.Errorf("%w: aggregate %q version %d has %d bytes of events, over Config.MaxCommitBytes %d",
			ErrCommitTooLarge, c.AggregateID, c.Version, len(raw), s.cfg.MaxCommitBytes)
	}
	return packed{raw: raw, events: packEvents(raw, overhead(c))}, nil
}

// encodeItem is the item of a prepared commit, with the attributes of the
// optional features, its events offloaded past Config.OffloadAbove when
// Config.Offload is set.
func (s *Store) encodeItem(c Commit, p packed) (encoded, error) {
	events := p.events
	enc := encoded{item: commitItem(c, s.shardOf(c.AggregateID), events)}
	if c.Version == 0 { // written whatever the config, so an index added later lists every aggregate
		enc.item[attrAggregateShard] = enc.item[attrShard]
	}
	if s.cfg.TTL > 0 {
		// From CommittedAt, not from now, so that every attempt of a commit
		// sends the same item.
		expires := c.CommittedAt.Add(s.cfg.TTL).Unix()
		enc.item[attrExpiresAt] = &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)}
	}
	if s.cfg.Offload != nil && valueSize(events) > s.cfg.OffloadAbove {
		enc.blobKey, enc.blob = blobKey(c), compressed(events, p.raw)
		delete(enc.item, attrEvents)
		maps.Copy(enc.item, refAttributes(enc.blobKey, enc.blob))
	}
	return enc, checkItemSize(c, enc.item)
}

// addFeatures adds the aggregates index and the stream to a table
// definition.
func (s *Store) addFeatures(in *dynamodb.CreateTableInput) {
	if s.cfg.AggregatesIndex != "" {
		in.AttributeDefinitions = append(in.AttributeDefinitions,
			types.AttributeDefinition{AttributeName: aws.String(attrAggregateShard), AttributeType: types.ScalarAttributeTypeN})
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:  aws.String(s.cfg.AggregatesIndex),
			KeySchema:  keySchema(attrAggregateShard, attrCommitID),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		})
	}
	if s.cfg.Stream {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
	}
}

// checkFeatures checks that an existing table has the aggregates index and
// the stream the store is configured with, and reports whether the table
// is active, given active for the table and scan index.
func (s *Store) checkFeatures(t *types.TableDescription, active bool) (bool, error) {
	if s.cfg.Stream && (t.StreamSpecification == nil || !aws.ToBool(t.StreamSpecification.StreamEnabled) ||
		(t.StreamSpecification.StreamViewType != types.StreamViewTypeNewImage && t.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages)) {
		return false, fmt.Errorf("%w: table %s has no stream of new images (Config.Stream)", ErrTableMismatch, s.cfg.Table)
	}
	if s.cfg.AggregatesIndex == "" {
		return active, nil
	}
	for _, ix := range t.GlobalSecondaryIndexes {
		if aws.ToString(ix.IndexName) != s.cfg.AggregatesIndex {
			continue
		}
		if !sameKeys(ix.KeySchema, attrAggregateShard, attrCommitID) {
			return false, fmt.Errorf("%w: index %s must have key (%s, %s)", ErrTableMismatch, s.cfg.AggregatesIndex, attrAggregateShard, attrCommitID)
		}
		return active && ix.IndexStatus == types.IndexStatusActive, nil
	}
	return false, fmt.Errorf("%w: table %s has no index %s (Config.AggregatesIndex)", ErrTableMismatch, s.cfg.Table, s.cfg.AggregatesIndex)
}
