package limits_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/dynamotest"
	"github.com/dynacommit/eventstore/dynamotest/limits"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// The table of these tests has the eventstore layout: key (aggregateId,
// version), global index commitsByCommitId on (shard, commitId).
const index = "commitsByCommitId"

// newTable creates a table with the eventstore layout and returns its name.
func newTable(tb testing.TB) string {
	tb.Helper()
	plain := dynamotest.Client(tb)
	name := dynamotest.TableName(tb, plain)
	key := func(h, r string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(h), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(r), KeyType: types.KeyTypeRange},
		}
	}
	_, err := plain.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("aggregateId"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("version"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("shard"), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String("commitId"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: key("aggregateId", "version"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(index),
			KeySchema:  key("shard", "commitId"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return name
}

// newSim returns a simulator with cfg and a client of the test DynamoDB
// through it, which does not retry.
func newSim(tb testing.TB, cfg limits.Config) (*limits.Simulator, *dynamodb.Client) {
	tb.Helper()
	sim, err := limits.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sim, sim.NewClient(dynamotest.Endpoint(tb), func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
}

// commit returns an item of the table: aggregate agg, version v, a payload
// making the item size bytes (DynamoDB's item size), and, if shard >= 0,
// the index keys.
func commit(agg string, v, shard, size int) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		"aggregateId": &types.AttributeValueMemberS{Value: agg},
		"version":     &types.AttributeValueMemberN{Value: strconv.Itoa(v)},
	}
	if shard >= 0 {
		it["shard"] = &types.AttributeValueMemberN{Value: strconv.Itoa(shard)}
		it["commitId"] = &types.AttributeValueMemberS{Value: agg + "/" + strconv.Itoa(v)}
	}
	n := 0
	for name, av := range it {
		n += len(name)
		switch av := av.(type) {
		case *types.AttributeValueMemberS:
			n += len(av.Value)
		case *types.AttributeValueMemberN:
			n += (len(strings.Trim(av.Value, "0"))+1)/2 + 1
		}
	}
	it["events"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", max(0, size-n-len("events")))}
	return it
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func put(tb testing.TB, client *dynamodb.Client, table string, it map[string]types.AttributeValue) {
	tb.Helper()
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		tb.Fatal(err)
	}
}
