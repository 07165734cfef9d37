package notifier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
)

// DynamoDBAPI lists the DynamoDB operations the relay calls on its
// checkpoint item. *dynamodb.Client satisfies it.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// The checkpoint item of relay NAME lives in a table keyed like the event
// store's (aggregateId S, version N), normally the event store's own table,
// at version -1 of the aggregate "$eventstore/relay/NAME". No commit has a
// negative version and the item has no commitId, so no Query or Scan of the
// store ever yields it.
const (
	checkpointPrefix  = "$eventstore/relay/"
	checkpointVersion = "-1"
	attrKeyAggregate  = "aggregateId"
	attrKeyVersion    = "version"
	attrCheckpoint    = "checkpoint" // S: CommitID of the last commit published; absent: none yet
	attrOwner         = "owner"      // S: token of the relay holding the lease
	attrLeaseUntil    = "leaseUntil" // N: unix ms when the lease expires; 0 when released
)

// lease is a relay's checkpoint item: who may advance it, and until when.
// Every write is conditional on the owner token, which acquire replaces, so
// a relay that lost the lease can never move the checkpoint again.
type lease struct {
	client   DynamoDBAPI
	table    string
	key      map[string]types.AttributeValue
	duration time.Duration
}

func newLease(client DynamoDBAPI, table, name string, duration time.Duration) *lease {
	return &lease{client: client, table: table, duration: duration, key: map[string]types.AttributeValue{
		attrKeyAggregate: &types.AttributeValueMemberS{Value: checkpointPrefix + name},
		attrKeyVersion:   &types.AttributeValueMemberN{Value: checkpointVersion},
	}}
}

// newToken returns an owner token unique to one term of one relay: host,
// process and 8 random bytes, so an operator can tell who holds a lease.
func newToken() string {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

var attrNames = map[string]string{"#c": attrCheckpoint, "#o": attrOwner, "#l": attrLeaseUntil}

func unixMs(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

// acquire takes the lease for token if nobody holds it or it has expired,
// and returns the checkpoint (from when none is stored yet). ok is false
// when another relay holds it.
func (l *lease) acquire(ctx context.Context, token, from string) (checkpoint string, ok bool, err error) {
	now := time.Now()
	values := map[string]types.AttributeValue{
		":o":   &types.AttributeValueMemberS{Value: token},
		":l":   unixMs(now.Add(l.duration)),
		":now": unixMs(now),
	}
	update := "SET #o = :o, #l = :l"
	if from != "" {
		update += ", #c = if_not_exists(#c, :from)"
		values[":from"] = &types.AttributeValueMemberS{Value: from}
	}
	out, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(l.table),
		Key:                                 l.key,
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("attribute_not_exists(#l) OR #l < :now"),
		ExpressionAttributeNames:            names(attrNames, update),
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureNone,
	})
	var held *types.ConditionalCheckFailedException
	if errors.As(err, &held) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("notifier: acquire relay lease in table %s: %w", l.table, err)
	}
	checkpoint, err = l.checkpointOf(out.Attributes)
	return checkpoint, err == nil, err
}

// names keeps the attribute names an expression uses: DynamoDB refuses
// unused ones.
func names(all map[string]string, expr ...string) map[string]string {
	out := map[string]string{}
	for placeholder, name := range all {
		for _, e := range expr {
			if strings.Contains(e, placeholder) {
				out[placeholder] = name
			}
		}
	}
	return out
}

// advance stores checkpoint and extends the lease, if token still holds it;
// ErrLeaseLost if not.
func (l *lease) advance(ctx context.Context, token, checkpoint string) error {
	return l.write(ctx, token, "SET #c = :c, #l = :l", map[string]types.AttributeValue{
		":c": &types.AttributeValueMemberS{Value: checkpoint},
		":l": unixMs(time.Now().Add(l.duration)),
	})
}

// renew extends the lease, if token still holds it; ErrLeaseLost if not.
func (l *lease) renew(ctx context.Context, token string) error {
	return l.write(ctx, token, "SET #l = :l", map[string]types.AttributeValue{":l": unixMs(time.Now().Add(l.duration))})
}

// release ends the lease now, so a standby relay takes over at once.
func (l *lease) release(ctx context.Context, token string) error {
	return l.write(ctx, token, "SET #l = :l", map[string]types.AttributeValue{":l": unixMs(time.UnixMilli(0))})
}

// write applies update if token holds the lease.
func (l *lease) write(ctx context.Context, token, update string, values map[string]types.AttributeValue) error {
	values[":me"] = &types.AttributeValueMemberS{Value: token}
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       l.key,
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  names(attrNames, update, "#o"),
		ExpressionAttributeValues: values,
	})
	var lost *types.ConditionalCheckFailedException
	if errors.As(err, &lost) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("notifier: update relay checkpoint in table %s: %w", l.table, err)
	}
	return nil
}

// read returns the stored checkpoint, "" if there is none.
func (l *lease) read(ctx context.Context) (string, error) {
	out, err := l.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(l.table), Key: l.key, ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", fmt.Errorf("notifier: read relay checkpoint in table %s: %w", l.table, err)
	}
	return l.checkpointOf(out.Item)
}

// checkpointOf returns the checkpoint an item holds: "" when absent, an
// error wrapping ErrCorruptCheckpoint when it is not a CommitID.
func (l *lease) checkpointOf(item map[string]types.AttributeValue) (string, error) {
	v, ok := item[attrCheckpoint]
	if !ok {
		return "", nil
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok || !validCommitID(s.Value) {
		return "", fmt.Errorf("%w: item %s in table %s: %s is %T %v", ErrCorruptCheckpoint,
			l.name(), l.table, attrCheckpoint, v, v)
	}
	return s.Value, nil
}

// name is the aggregate id of the checkpoint item.
func (l *lease) name() string {
	return l.key[attrKeyAggregate].(*types.AttributeValueMemberS).Value
}

// validCommitID reports whether s is a canonical ULID, as CommitIDs are.
func validCommitID(s string) bool {
	id, err := ulid.ParseStrict(s)
	return err == nil && id.String() == s
}
