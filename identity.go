package eventstore

import (
	"bytes"
	"context"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// "The same commit": a write whose condition fails because its key holds
// its own CommitID succeeds only if the stored item is this very commit:
// same key, same CommitID, same events (each event's type, data bytes and
// metadata, in order) and same commit metadata. The item DynamoDB returns
// with the failed condition (ALL_OLD) is compared with the commit sent,
// cheaply when both encode the events alike (the events attribute byte for
// byte, or the offloaded blob's size and SHA-256), else by decoding both
// (an earlier attempt may have compressed or offloaded them otherwise).
// No digest attribute is stored: the comparison needs nothing the item
// does not hold already, and every byte of an item costs write units.

// sameCommit reports whether item, which holds c's key and CommitID, is
// c: nil if it is, a *CommitMismatchError naming what differs if not, or
// an error when the stored commit cannot be read (a corrupt item wraps
// ErrCorruptCommit; a blob store failure leaves the outcome unknown).
func (s *Store) sameCommit(ctx context.Context, c Commit, item map[string]types.AttributeValue) error {
	stored, ref, err := decodeStored(item)
	if err != nil {
		return err
	}
	sameEvents, err := s.sameEvents(ctx, c, &stored, ref, item)
	if err != nil {
		return err
	}
	var differs []string
	if !sameEvents {
		differs = append(differs, "events")
	}
	if !maps.Equal(stored.Metadata, c.Metadata) {
		differs = append(differs, "commit metadata")
	}
	if len(differs) == 0 {
		return nil
	}
	m := &CommitMismatchError{AggregateID: c.AggregateID, Version: c.Version, CommitID: c.CommitID, Differs: strings.Join(differs, " and ")}
	if ref != nil {
		m.storedKey = ref.key
	}
	return m
}

// sameEvents compares c's events with those of the stored commit (item,
// decoded as stored, with ref if they are offloaded).
func (s *Store) sameEvents(ctx context.Context, c Commit, stored *Commit, ref *blobRef, item map[string]types.AttributeValue) (bool, error) {
	p, err := s.pack(c)
	if err != nil {
		return false, err
	}
	enc, err := s.encodeItem(c, p)
	if err != nil {
		return false, err
	}
	switch {
	case ref == nil && sameAttr(item[attrEvents], enc.item[attrEvents]):
		return true, nil
	case ref != nil && enc.blob != nil && ref.size == int64(len(enc.blob)) && ref.sum == checksum(enc.blob):
		return true, nil
	case ref != nil:
		if err := s.fetchEvents(ctx, stored, ref); err != nil {
			return false, unknown(err, "eventstore: aggregate %q version %d: compare commit %s with the stored one", c.AggregateID, c.Version, c.CommitID)
		}
	}
	mine, err := decodeEvents(&types.AttributeValueMemberS{Value: string(p.raw)})
	if err != nil {
		return false, err
	}
	return equalEvents(stored.Events, mine), nil
}

// sameAttr reports whether a and b are the same string or binary value.
func sameAttr(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	}
	return false
}

// equalEvents compares events as decoded from the table: type, data bytes
// and metadata.
func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) || !maps.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}
