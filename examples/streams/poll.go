package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// streamsAPI is what the poller calls; *dynamodbstreams.Client has it.
type streamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// poll does locally what Lambda's event source mapping does: it reads
// every shard of the stream from its oldest record, in batches of up to
// 100, as the JSON events a Lambda function receives, and hands them to
// handle. It returns once every shard is read up to now, or at the first
// batch handle reports a failure in (Lambda would retry it).
func poll(ctx context.Context, streams streamsAPI, arn string, handle func(context.Context, StreamEvent) (BatchResponse, error)) error {
	var shards []types.Shard
	for in := (&dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)}); ; {
		d, err := streams.DescribeStream(ctx, in)
		if err != nil {
			return err
		}
		shards = append(shards, d.StreamDescription.Shards...)
		if in.ExclusiveStartShardId = d.StreamDescription.LastEvaluatedShardId; in.ExclusiveStartShardId == nil {
			break
		}
	}
	for _, shard := range shards { // parents come before their children
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: shard.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return err
		}
		for iterator := it.ShardIterator; iterator != nil; {
			out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iterator, Limit: aws.Int32(100)})
			if err != nil {
				return err
			}
			if len(out.Records) == 0 { // read up to now
				break
			}
			ev, err := lambdaEvent(out.Records)
			if err != nil {
				return err
			}
			res, err := handle(ctx, ev)
			if err != nil {
				return err
			}
			if len(res.BatchItemFailures) > 0 {
				return fmt.Errorf("record %s failed", res.BatchItemFailures[0].ItemIdentifier)
			}
			iterator = out.NextShardIterator
		}
	}
	return nil
}

// lambdaEvent turns records read with the Streams API into the event
// Lambda would deliver for them.
func lambdaEvent(records []types.Record) (StreamEvent, error) {
	var ev StreamEvent
	for _, r := range records {
		var sr StreamRecord
		sr.EventID, sr.EventName = aws.ToString(r.EventID), string(r.EventName)
		if d := r.Dynamodb; d != nil {
			sr.DynamoDB.SequenceNumber, sr.DynamoDB.StreamViewType = aws.ToString(d.SequenceNumber), string(d.StreamViewType)
			if d.NewImage != nil {
				image, err := json.Marshal(jsonItem(d.NewImage))
				if err != nil {
					return ev, err
				}
				sr.DynamoDB.NewImage = image
			}
		}
		ev.Records = append(ev.Records, sr)
	}
	return ev, nil
}

// jsonItem is an item in DynamoDB's JSON form ({"name":{"S":"value"}}).
func jsonItem(item map[string]types.AttributeValue) map[string]any {
	m := make(map[string]any, len(item))
	for k, v := range item {
		m[k] = jsonValue(v)
	}
	return m
}

func jsonValue(v types.AttributeValue) map[string]any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": v.Value} // base64, as encoding/json writes []byte
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": v.Value}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": jsonItem(v.Value)}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = jsonValue(e)
		}
		return map[string]any{"L": l}
	}
	// No other type exists; were one added, its name as the type key makes
	// ParseImageJSON report the commit as corrupt rather than misread it.
	return map[string]any{fmt.Sprintf("%T", v): nil}
}
