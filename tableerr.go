package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// A request that finds no table, or a table of another shape, failed
// definitely: DynamoDB refused it before it could write anything. The
// store's client says so for every request, whichever operation sent it,
// so that no such error reads as a network failure (ErrOutcomeUnknown),
// is retried, or reaches the caller as raw SDK text.

// tableClient is the store's client: it passes every request on to the
// caller's client and makes its error a *tableError when it proves the
// table missing (ResourceNotFoundException) or not of the store's shape.
type tableClient struct {
	api   DynamoDBAPI
	table string
}

// tableError is a request's error that says the table is not there, or
// not the store's: it matches ErrTableNotFound or ErrTableMismatch and
// unwraps to the DynamoDB error.
type tableError struct {
	kind error // ErrTableNotFound or ErrTableMismatch
	msg  string
	err  error
}

func (e *tableError) Error() string { return e.msg + ": " + e.err.Error() }

// Is reports whether target is the error's kind.
func (e *tableError) Is(target error) bool { return target == e.kind }

// Unwrap returns the DynamoDB error.
func (e *tableError) Unwrap() error { return e.err }

// schemaMismatches are the messages of a ValidationException that a
// request of the store's key gets from a table with another key: DynamoDB's
// and DynamoDB Local's wordings.
var schemaMismatches = []string{
	"key element does not match the schema",
	"number of conditions on the keys is invalid",
	"query key condition not supported",
	"query condition missed key schema element",
	"missing the key",
}

// classify returns err as a *tableError when it proves the table missing
// or of another shape, else unchanged.
func (c *tableClient) classify(err error) error {
	var missing *types.ResourceNotFoundException
	var api smithy.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*tableError)):
		return err
	case errors.As(err, &missing):
		return &tableError{kind: ErrTableNotFound, err: err, msg: fmt.Sprintf(
			"eventstore: table %s not found (in the client's account and region, or not ACTIVE yet); "+
				"create it with Store.CreateTable or the eventstore command's import -create", c.table)}
	case !errors.As(err, &api) || api.ErrorCode() != "ValidationException":
		return err
	}
	text := strings.ToLower(api.ErrorMessage())
	if i := strings.Index(text, "does not have the specified index"); i >= 0 {
		return &tableError{kind: ErrTableMismatch, err: err, msg: fmt.Sprintf(
			"eventstore: table %s has no index %s, which the store reads; "+
				"a table made by Store.CreateTable has it", c.table, strings.TrimSpace(api.ErrorMessage()[i+len("does not have the specified index"):]))}
	}
	for _, m := range schemaMismatches {
		if strings.Contains(text, m) {
			return &tableError{kind: ErrTableMismatch, err: err, msg: fmt.Sprintf(
				"eventstore: table %s does not have the store's key (%s, %s); "+
					"is it an eventstore table? Store.CreateTable makes one", c.table, attrAggregateID, attrVersion)}
		}
	}
	return err
}

// tableProblem returns the *tableError in err's tree, if any.
func tableProblem(err error) (*tableError, bool) {
	var t *tableError
	return t, errors.As(err, &t)
}

func (c *tableClient) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := c.api.PutItem(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.api.GetItem(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := c.api.UpdateItem(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.api.Query(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return c.api.CreateTable(ctx, in, optFns...) // its errors are CreateTable's own
}

func (c *tableClient) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	out, err := c.api.DescribeTable(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := c.api.TransactWriteItems(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	out, err := c.api.DescribeTimeToLive(ctx, in, optFns...)
	return out, c.classify(err)
}

func (c *tableClient) UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	out, err := c.api.UpdateTimeToLive(ctx, in, optFns...)
	return out, c.classify(err)
}
