package eventstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// A commitId that is not canonical (a ULID with lower-case letters, written
// by another program) sorts after every canonical ULID that shares its
// prefix up to its first lower-case letter. A scan reads the index up to
// the horizon hi, so such an item, whose time is settled, can stay beyond
// hi for as long as hi keeps that prefix: years for a letter among the
// first characters. Readers must never skip an item silently, so scans
// probe for them.
//
// The probe is one query per shard, of the commitIds from hi's first
// probePrefix characters followed by '[' (just after 'Z') up to lower(hi)
// (every case variant of an id <= hi sorts <= lower(hi)). It holds no
// canonical id of the 17.5 minutes (32^4 ms) that share hi's prefix, so
// it reads nothing unless such an item exists (or, for the settle window
// after the prefix turns, the unsettled commits past it): it costs one
// request of the minimum read per shard. A variant with its first
// lower-case letter after the prefix is not probed; it sorts <= hi, and
// is read by the scan itself as an error, once hi's prefix turns, within
// 17.5 minutes.
//
// The alternative, the scan's own upper bound at lower(hi), would re-read
// every unsettled commit (the settle window's writes) on every poll of a
// Tail. Scan probes once; Tail on its first poll and then every
// probeEvery.
const (
	probePrefix = 6
	probeEvery  = 30 * time.Second
)

// probeRange is the range of commitIds the probe reads; false if empty.
func probeRange(hi ulid.ULID) (string, string, bool) {
	h := hi.String()
	lo, up := h[:probePrefix]+"[", strings.ToLower(h)
	return lo, up, lo <= up
}

// probe returns the error of the first item of the probe range that is
// not a canonical commit, in the order of its canonical CommitID, and that
// id; nil if there is none.
func (s *Store) probe(ctx context.Context, hi ulid.ULID) (string, error) {
	lo, up, ok := probeRange(hi)
	if !ok {
		return "", nil
	}
	first, firstErr := "", error(nil)
	for shard := range s.cfg.ScanShards {
		in := &dynamodb.QueryInput{
			TableName:                aws.String(s.cfg.Table),
			IndexName:                aws.String(s.cfg.Index),
			KeyConditionExpression:   aws.String("#s = :s AND #c BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#s": attrShard, "#c": attrCommitID},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":s":  &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
				":lo": &types.AttributeValueMemberS{Value: lo},
				":hi": &types.AttributeValueMemberS{Value: up},
			},
		}
		for items, err := range s.pages(ctx, in) {
			if err != nil {
				return "", fmt.Errorf("eventstore: scan shard %d for non-canonical commit ids: %w", shard, err)
			}
			for _, item := range items {
				id, _ := stringAttr(item, attrCommitID)
				if _, err := parseCommitID(id); err == nil || isFence(item) {
					continue // canonical, and past hi: not settled yet
				}
				upper := strings.ToUpper(id)
				if firstErr == nil || upper < first {
					_, _, err := decodeStored(item) // names aggregate and version
					if err == nil {
						err = fmt.Errorf("%w: commit id %q", ErrCorruptCommit, id)
					}
					first, firstErr = upper, err
				}
			}
		}
	}
	return first, firstErr
}
