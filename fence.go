package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// putCondition is the condition of every put of commit commitID: its key is
// free, or holds a fence that did not refuse this commit.
func putCondition(commitID string) (*string, map[string]string, map[string]types.AttributeValue) {
	return aws.String("attribute_not_exists(#a) OR (attribute_not_exists(#c) AND NOT contains(#r, :cid))"),
		map[string]string{"#a": attrAggregateID, "#c": attrCommitID, "#r": attrRefused},
		map[string]types.AttributeValue{":cid": &types.AttributeValueMemberS{Value: commitID}}
}

// fenceBound bounds the fence request, the SDK's retries included. A
// fence sent at the writer deadline t + L and answered within
// SettleAllowance/2 proves that a commit it finds landed by
// t + L + SettleAllowance/2, inside the default settle window t + L +
// SettleAllowance with half the allowance left for index lag and clock
// skew. A fence that takes longer leaves the outcome unknown, and the
// error says so: a commit found that late could have been skipped.
const fenceBound = SettleAllowance / 2

// fence refuses c at its key for good, unless a commit holds the key: then
// it returns that commit's item (c itself, or another). It gives up after
// fenceBound.
func (s *Store) fence(ctx context.Context, c Commit) (map[string]types.AttributeValue, error) {
	ctx, cancel := context.WithTimeout(ctx, fenceBound)
	defer cancel()
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.cfg.Table),
		Key:                                 keyOf(c.AggregateID, c.Version),
		UpdateExpression:                    aws.String("ADD #r :cids"),
		ConditionExpression:                 aws.String("attribute_not_exists(#c)"),
		ExpressionAttributeNames:            map[string]string{"#r": attrRefused, "#c": attrCommitID},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":cids": &types.AttributeValueMemberSS{Value: []string{c.CommitID}}},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, s.opts...)
	var held *types.ConditionalCheckFailedException
	if errors.As(err, &held) {
		return held.Item, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: refuse aggregate %q version %d commit %s after its deadline (bounded by %v): %w",
			c.AggregateID, c.Version, c.CommitID, fenceBound, err)
	}
	return nil, nil
}

// plainCondition is the condition a put sends first: its key is free. It
// fails on a fence too, and put then resends with putCondition.
func plainCondition() (*string, map[string]string, map[string]types.AttributeValue) {
	return aws.String("attribute_not_exists(" + attrAggregateID + ")"), nil, nil // no names: cheaper to parse
}
