package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func runStats(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	commits, firsts, err := countItems(ctx, c.client, e.opts.table)
	if err != nil {
		return err
	}
	t := c.table
	w := e.stdout
	fmt.Fprintf(w, "table       %s (%s, %s)\n", e.opts.table, t.TableStatus, billing(t))
	fmt.Fprintf(w, "commits     %d\n", commits)
	aggregates := fmt.Sprintf("%d (version-0 commits)", firsts)
	if idx := aggregatesIndex(t); idx != "" {
		n := 0
		for _, err := range c.store.Aggregates(ctx) {
			if err != nil {
				return err
			}
			n++
		}
		aggregates += fmt.Sprintf("; index %s lists %d", idx, n)
	} else {
		aggregates += "; no aggregates index"
	}
	fmt.Fprintf(w, "aggregates  %s\n", aggregates)
	fmt.Fprintf(w, "shards      %s\n", shards(c.meta))
	if err := writeShares(ctx, w, c, e.opts.table); err != nil {
		return err
	}
	fmt.Fprintf(w, "settings    %s\n", settings(c.meta))
	fmt.Fprintf(w, "indexes     %s\n", indexes(t))
	stream := "off"
	if s := t.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		stream = string(s.StreamViewType)
	}
	fmt.Fprintf(w, "stream      %s\n", stream)
	fmt.Fprintf(w, "size        about %d bytes in %d items (DescribeTable; DynamoDB updates it about every six hours)\n",
		aws.ToInt64(t.TableSizeBytes), aws.ToInt64(t.ItemCount))
	return nil
}

// countItems counts the commits of the table, and its version-0 commits
// (those with the aggregates index key, written whatever the config), with
// one paginated Scan that reads only those two attributes.
func countItems(ctx context.Context, client *dynamodb.Client, table string) (commits, firsts int, err error) {
	pages := dynamodb.NewScanPaginator(client, &dynamodb.ScanInput{
		TableName:                aws.String(table),
		ProjectionExpression:     aws.String("#c, #f"),
		ExpressionAttributeNames: map[string]string{"#c": "commitId", "#f": "aggregateShard"},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("scan table %s: %w", table, err)
		}
		for _, item := range page.Items {
			if _, ok := item["commitId"]; ok {
				commits++
				if _, ok := item["aggregateShard"]; ok {
					firsts++
				}
			}
		}
	}
	return commits, firsts, nil
}

func billing(t *types.TableDescription) string {
	if t.BillingModeSummary != nil && t.BillingModeSummary.BillingMode == types.BillingModePayPerRequest {
		return "on-demand"
	}
	if p := t.ProvisionedThroughput; p != nil && aws.ToInt64(p.ReadCapacityUnits) > 0 {
		return fmt.Sprintf("provisioned %d RCU / %d WCU", aws.ToInt64(p.ReadCapacityUnits), aws.ToInt64(p.WriteCapacityUnits))
	}
	return "on-demand"
}

func aggregatesIndex(t *types.TableDescription) string {
	for _, gsi := range t.GlobalSecondaryIndexes {
		if len(gsi.KeySchema) > 0 && aws.ToString(gsi.KeySchema[0].AttributeName) == "aggregateShard" {
			return aws.ToString(gsi.IndexName)
		}
	}
	return ""
}

func indexes(t *types.TableDescription) string {
	var names []string
	for _, gsi := range t.GlobalSecondaryIndexes {
		names = append(names, fmt.Sprintf("%s (%d items)", aws.ToString(gsi.IndexName), aws.ToInt64(gsi.ItemCount)))
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func shards(meta map[string]types.AttributeValue) string {
	if n, ok := meta["scanShards"].(*types.AttributeValueMemberN); ok {
		return n.Value + " (recorded in the table)"
	}
	if _, ok := meta["shardSchedule"]; ok {
		return "resharded: see schedule"
	}
	return "not recorded yet (no store has written to the table)"
}

// settings lists the attributes of the metadata item but its key.
func settings(meta map[string]types.AttributeValue) string {
	var kv []string
	for k, v := range meta {
		if k == "aggregateId" || k == "version" {
			continue
		}
		kv = append(kv, field(k)+"="+field(attrString(v)))
	}
	if len(kv) == 0 {
		return "none recorded"
	}
	sort.Strings(kv)
	return strings.Join(kv, " ")
}

func attrString(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprint(v.Value)
	default:
		return fmt.Sprintf("%T", v)
	}
}
