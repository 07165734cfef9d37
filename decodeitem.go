package eventstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeItem turns one raw item of the store's table, as a DynamoDB Scan of
// the table returns it, into the Commit it holds, as Query would return it:
// offloaded events are fetched from Config.Offload and checked against
// their size and SHA-256. It serves tools that walk the table item by item
// and must go on past a bad one (the eventstore command's verify), which
// Query and Scan cannot: they end at the first error.
//
// Errors: ErrNotCommit for an item that holds no commit (the table's
// metadata item, a fence); ErrCorruptCommit, naming aggregate and version,
// for a commit that does not decode or whose blob is altered; an error
// wrapping ErrBlobNotFound, naming the key, for a missing blob.
//
// DecodeItem is safe for concurrent use.
func (s *Store) DecodeItem(ctx context.Context, item map[string]types.AttributeValue) (Commit, error) {
	if id, _ := stringAttr(item, attrAggregateID); id == metaAggregateID {
		if v, err := numberAttr(item, attrVersion); err == nil && v < 0 {
			return Commit{}, fmt.Errorf("%w: the table's metadata item", ErrNotCommit)
		}
	}
	if isFence(item) {
		return Commit{}, fmt.Errorf("%w: a fence (a key that refused a late commit)", ErrNotCommit)
	}
	c, ref, err := decodeStored(item)
	if err != nil || ref == nil {
		return c, err
	}
	return c, s.fetchEvents(ctx, &c, ref)
}
