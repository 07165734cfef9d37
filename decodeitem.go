package eventstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DecodeItem turns one raw item of the store's table, as a DynamoDB Scan of
// the table returns it, into the Commit it holds, as Query would return it:
// offloaded events are fetched from Config.Offload and checked against
// their size and SHA-256. It serves tools that walk the table item by item
// and must go on past a bad one (the eventstore command's verify), which
// Query and Scan cannot: they end at the first error.
//
// Errors: ErrNotCommit for an item that holds no commit: a fence, and
// every item at a negative version of the aggregate "$eventstore" or of
// one whose id starts "$eventstore/", where the library keeps its own
// items (the table's metadata, a notifier relay's checkpoint);
// ErrCorruptCommit, naming aggregate and version, for a commit that does
// not decode or whose blob is altered; an error wrapping ErrBlobNotFound,
// naming the key, for a missing blob.
//
// DecodeItem is safe for concurrent use.
func (s *Store) DecodeItem(ctx context.Context, item map[string]types.AttributeValue) (Commit, error) {
	if id, _ := stringAttr(item, attrAggregateID); id == metaAggregateID || strings.HasPrefix(id, metaAggregateID+"/") {
		if v, err := numberAttr(item, attrVersion); err == nil && v < 0 {
			return Commit{}, fmt.Errorf("%w: the library's item %q version %d (the table's metadata, a relay's checkpoint)", ErrNotCommit, id, v)
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
