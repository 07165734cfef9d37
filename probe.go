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

// Every item of the scan index whose commitId is not a canonical ULID
// (written by another program: a UUID, a ULID in lower case, anything) is
// reported by the scans, never skipped. The scan reads the index from its
// checkpoint up to the horizon hi and decodes every item it reads, so one
// that sorts in that range is its error. The others are found by a probe
// of two ranges per shard that hold no commit the scan will not read:
//
//   - every commitId below "00000000000000000000000000", the smallest
//     ULID: no scan reads there;
//   - every commitId above hi[:probePrefix] followed by "ZZ…Z" (26
//     characters), the last ULID of hi's 17.5 minutes (32^4 ms): a lower
//     case variant of a settled id sorts there (lower case sorts after
//     upper case), so does anything above "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
//     the largest ULID, and any id with a lower case letter, or a letter
//     past the Crockford alphabet, within the first probePrefix
//     characters (a UUID such as "0f8fad5b-…").
//
// Neither range holds a canonical commit but the unsettled ones of the
// next 17.5 minutes, which exist only for the settle window after hi's
// prefix turns (or from a writer whose clock runs ahead): a probe costs
// two requests of the minimum read per shard. A canonical id it finds is
// skipped (the scan yields it once it settles). What neither range holds,
// an id above hi that shares hi's prefix and is not canonical past it,
// sorts below the prefix's last ULID: the scan itself reads it, as an
// error, once hi passes it, within 17.5 minutes.
//
// A commitId below the scan's checkpoint, among the ULIDs, is not probed:
// the scan that passed the checkpoint read it. An item whose shard is not
// one of 0..ScanShards-1 is in no range a scan reads; finding it would take
// a read of the whole index, which the eventstore command's verify does.
//
// The alternative, the scan's own upper bound at the largest string,
// would re-read every unsettled commit (the settle window's writes) on
// every poll of a Tail. Scan probes once; Tail on its first poll and then
// every probeEvery.
const (
	probePrefix = 6
	probeEvery  = 30 * time.Second
)

// smallestULID is the smallest canonical ULID string.
const smallestULID = "00000000000000000000000000"

// probeRanges are the key conditions of the probe's ranges of commitIds,
// with their values, for a scan up to hi.
func probeRanges(hi ulid.ULID) []keyRange {
	top := hi.String()[:probePrefix] + strings.Repeat("Z", ulid.EncodedSize-probePrefix)
	return []keyRange{
		{"#c < :c", smallestULID},
		{"#c > :c", top},
	}
}

// keyRange is a condition on the commitId of one query of the index.
type keyRange struct{ cond, value string }

// probe returns the error of the first item of the probe range that is
// not a canonical commit, in the order of its canonical CommitID, and that
// id; nil if there is none.
func (s *Store) probe(ctx context.Context, hi ulid.ULID) (string, error) {
	first, firstErr := "", error(nil)
	for shard := range s.allShards() { // every epoch's shards
		for _, r := range probeRanges(hi) {
			in := &dynamodb.QueryInput{
				TableName:                aws.String(s.cfg.Table),
				IndexName:                aws.String(s.cfg.Index),
				KeyConditionExpression:   aws.String("#s = :s AND " + r.cond),
				ExpressionAttributeNames: map[string]string{"#s": attrShard, "#c": attrCommitID},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)},
					":c": &types.AttributeValueMemberS{Value: r.value},
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
	}
	return first, firstErr
}
