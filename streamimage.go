package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// maxImageDepth is DynamoDB's limit of nested attribute levels.
const maxImageDepth = 32

// ParseImage turns the new image of a DynamoDB Streams record of the
// store's table (see Config.Stream) into the Commit it holds, as Query
// would return it. It is castore's ImageParser. A record read with the
// Streams API (package dynamodbstreams) has images of that package's
// types: convert them with the SDK's attributevalue.FromDynamoDBStreamsMap
// (module feature/dynamodb/attributevalue) first.
//
// Errors: ErrNotCommit for a record that does not hold a commit, which a
// stream consumer should skip: no image (a REMOVE record, as when TTL
// deletes a commit, or a stream without new images), a keys-only image,
// the library's own items (the table's metadata, a relay's checkpoint),
// a fence, an item without a commitId; ErrCorruptCommit, naming aggregate and version, for
// an image that holds a commit that does not decode; ErrEventsOffloaded for
// a commit whose events are in Config.Offload (read it with Store.Query).
//
// ParseImage knows no Config.Upcasters: its events are as stored. Use
// Store.ParseImage to have them upcast.
func ParseImage(image map[string]types.AttributeValue) (Commit, error) {
	if err := notImage(image); err != nil {
		return Commit{}, err
	}
	c, ref, err := decodeStored(image)
	if err == nil && ref != nil {
		return Commit{}, fmt.Errorf("%w: aggregate %q version %d: events at %s", ErrEventsOffloaded, c.AggregateID, c.Version, ref.key)
	}
	return c, err
}

// notImage returns an error matching ErrNotCommit for a stream image that
// holds no commit; nil for any other.
func notImage(image map[string]types.AttributeValue) error {
	if len(image) == 0 {
		return fmt.Errorf("%w: no image (a REMOVE record, or a stream without new images)", ErrNotCommit)
	}
	if err := notCommit(image); err != nil {
		return err
	}
	if _, ok := image[attrCommitID]; !ok {
		return fmt.Errorf("%w: no %s attribute (a keys-only image, or an item the store did not write)", ErrNotCommit, attrCommitID)
	}
	return nil
}

// ParseImage is the package's ParseImage with the store's settings: the
// events are upcast with Config.Upcasters, and offloaded events are
// fetched from Config.Offload and checked (so ErrEventsOffloaded is never
// returned; a missing blob wraps ErrBlobNotFound). Its other errors are
// ParseImage's, and an *UpcastError when an upcaster fails. It is safe for
// concurrent use.
func (s *Store) ParseImage(ctx context.Context, image map[string]types.AttributeValue) (Commit, error) {
	if err := notImage(image); err != nil {
		return Commit{}, err
	}
	return s.DecodeItem(ctx, image)
}

// ParseImageJSON is Store.ParseImage for an image in DynamoDB's JSON form;
// see the package's ParseImageJSON.
func (s *Store) ParseImageJSON(ctx context.Context, image []byte) (Commit, error) {
	item, err := decodeImageJSON(image)
	if err != nil {
		return Commit{}, fmt.Errorf("%w: image JSON: %v", ErrCorruptCommit, err)
	}
	return s.ParseImage(ctx, item)
}

// ParseImageJSON is ParseImage for an image in DynamoDB's JSON form
// ({"aggregateId":{"S":"a"},"version":{"N":"0"},...}): the NewImage of a
// record of the event a Lambda function receives from a DynamoDB stream,
// or of `aws dynamodbstreams get-records`. Empty input or JSON null (no
// image) is ErrNotCommit; JSON that is not an image is ErrCorruptCommit.
func ParseImageJSON(image []byte) (Commit, error) {
	item, err := decodeImageJSON(image)
	if err != nil {
		return Commit{}, fmt.Errorf("%w: image JSON: %v", ErrCorruptCommit, err)
	}
	return ParseImage(item)
}

// decodeImageJSON decodes an item in DynamoDB's JSON form; nil for empty
// input or null. The SDK has no exported decoder of this form (its
// attributevalue package converts typed Streams values, not JSON, and the
// service's JSON deserializers are internal), and aws-lambda-go's event
// types would be a dependency for one function: hence this small one.
func decodeImageJSON(data []byte) (map[string]types.AttributeValue, error) {
	if t := bytes.TrimSpace(data); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	return decodeMapJSON(raw, 1)
}

func decodeMapJSON(raw map[string]json.RawMessage, depth int) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, len(raw))
	for name, v := range raw {
		av, err := decodeValueJSON(v, depth)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		item[name] = av
	}
	return item, nil
}

// decodeValueJSON decodes one attribute value: an object with one key
// naming its type.
func decodeValueJSON(data json.RawMessage, depth int) (types.AttributeValue, error) {
	if depth > maxImageDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxImageDepth)
	}
	var tagged map[string]json.RawMessage
	if err := json.Unmarshal(data, &tagged); err != nil {
		return nil, err
	}
	if len(tagged) != 1 {
		return nil, fmt.Errorf("want an object with one type key, have %d keys", len(tagged))
	}
	var typ string
	var v json.RawMessage
	for typ, v = range tagged { // the one key
	}
	return decodeTypedJSON(typ, v, depth)
}

func decodeTypedJSON(typ string, v json.RawMessage, depth int) (types.AttributeValue, error) {
	var err error
	switch typ {
	case "S":
		var s types.AttributeValueMemberS
		err = json.Unmarshal(v, &s.Value)
		return &s, err
	case "N":
		var n types.AttributeValueMemberN
		err = json.Unmarshal(v, &n.Value)
		return &n, err
	case "B":
		var b types.AttributeValueMemberB
		err = json.Unmarshal(v, &b.Value) // base64, as encoding/json reads []byte
		return &b, err
	case "BOOL":
		var b types.AttributeValueMemberBOOL
		err = json.Unmarshal(v, &b.Value)
		return &b, err
	case "NULL":
		var b bool
		err = json.Unmarshal(v, &b)
		return &types.AttributeValueMemberNULL{Value: b}, err
	case "SS":
		var ss types.AttributeValueMemberSS
		err = json.Unmarshal(v, &ss.Value)
		return &ss, err
	case "NS":
		var ns types.AttributeValueMemberNS
		err = json.Unmarshal(v, &ns.Value)
		return &ns, err
	case "BS":
		var bs types.AttributeValueMemberBS
		err = json.Unmarshal(v, &bs.Value)
		return &bs, err
	case "M":
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
		m, err := decodeMapJSON(raw, depth+1)
		return &types.AttributeValueMemberM{Value: m}, err
	case "L":
		var raw []json.RawMessage
		if err := json.Unmarshal(v, &raw); err != nil {
			return nil, err
		}
		l := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(raw))}
		for i, e := range raw {
			if l.Value[i], err = decodeValueJSON(e, depth+1); err != nil {
				return nil, fmt.Errorf("[%d]: %v", i, err)
			}
		}
		return l, nil
	}
	return nil, fmt.Errorf("unknown attribute type %q", typ)
}

// DecodeItem turns one raw item of the store's table, as a DynamoDB Scan of
// the table returns it, into the Commit it holds, as Query would return it:
// offloaded events are fetched from Config.Offload and checked against
// their size and SHA-256. It serves tools that walk the table item by item
// and must go on past a bad one (the eventstore command's verify), which
// Query and Scan cannot: they end at the first error. Its events are
// upcast with Config.Upcasters, as every read's are.
//
// Errors: ErrNotCommit for an item that holds no commit: a fence, and
// every item at a negative version of the aggregate "$eventstore" or of
// one whose id starts "$eventstore/", where the library keeps its own
// items (the table's metadata, a notifier relay's checkpoint);
// ErrCorruptCommit, naming aggregate and version, for a commit that does
// not decode or whose blob is altered; an error wrapping ErrBlobNotFound,
// naming the key, for a missing blob; an *UpcastError when an upcaster
// fails. On error the Commit is zero.
//
// DecodeItem is safe for concurrent use.
func (s *Store) DecodeItem(ctx context.Context, item map[string]types.AttributeValue) (Commit, error) {
	if err := notCommit(item); err != nil {
		return Commit{}, err
	}
	commits, err := s.decodePage(ctx, []map[string]types.AttributeValue{item})
	if err != nil || len(commits) == 0 {
		return Commit{}, err
	}
	return commits[0], nil
}
