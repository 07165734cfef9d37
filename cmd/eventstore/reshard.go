package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore"
)

// runReshard raises the table's shard count: eventstore reshard -to N.
func runReshard(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("reshard", flag.ContinueOnError)
	to := fs.Int("to", 0, "")
	if _, err := e.parse(fs, args, 0); err != nil {
		return err
	}
	if *to < 1 {
		return usagef("reshard: -to N, the new shard count, is required")
	}
	c, err := open(ctx, e.opts)
	if err != nil {
		return err
	}
	sched, err := c.store.Reshard(ctx, *to)
	if err != nil {
		return err
	}
	b := sched[len(sched)-1]
	fmt.Fprintf(e.stdout, "table %s: %d shards from commit id %s on (about a minute from now)\nschedule %v\n",
		e.opts.table, b.Shards, b.From, sched)
	return nil
}

// learnSchedule reads the table's shard schedule into c, and configures
// the store with a count of it when the table no longer records a plain
// count (resharded).
func (c *conn) learnSchedule(ctx context.Context, cfg *eventstore.Config) error {
	var err error
	if c.sched, err = c.store.ShardSchedule(ctx); err != nil {
		return err
	}
	defer func() { c.shards = c.sched[len(c.sched)-1].Shards }() // every shard of every epoch
	if slices.ContainsFunc(c.sched, func(e eventstore.ShardEpoch) bool { return e.Shards == c.shards }) {
		return nil
	}
	cfg.ScanShards = c.sched[len(c.sched)-1].Shards
	c.store, err = eventstore.New(c.client, *cfg)
	return err
}

// writeShares prints the schedule and, per epoch, how the commits spread
// over its shards (one read of the scan index's keys per shard).
func writeShares(ctx context.Context, w io.Writer, c *conn, table string) error {
	fmt.Fprintf(w, "schedule    %v\n", c.sched)
	counts := make([]map[int]int, len(c.sched)) // per epoch, commits per shard
	for i := range counts {
		counts[i] = map[int]int{}
	}
	for shard := range c.sched[len(c.sched)-1].Shards {
		pages := dynamodb.NewQueryPaginator(c.client, &dynamodb.QueryInput{
			TableName: aws.String(table), IndexName: aws.String(eventstore.DefaultIndex),
			KeyConditionExpression:    aws.String("#s = :s"),
			ProjectionExpression:      aws.String("#c"),
			ExpressionAttributeNames:  map[string]string{"#s": "shard", "#c": "commitId"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberN{Value: strconv.Itoa(shard)}},
		})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("read shard %d of the scan index: %w", shard, err)
			}
			for _, item := range page.Items {
				id, _ := item["commitId"].(*types.AttributeValueMemberS)
				if id != nil {
					counts[epochOf(c.sched, id.Value)][shard]++
				}
			}
		}
	}
	for i, e := range c.sched {
		total := 0
		for _, n := range counts[i] {
			total += n
		}
		var shares []string
		for shard := range e.Shards {
			share := 0.0
			if total > 0 {
				share = 100 * float64(counts[i][shard]) / float64(total)
			}
			shares = append(shares, fmt.Sprintf("%d:%.1f%%", shard, share))
		}
		from := e.From
		if from == "" {
			from = "the beginning"
		}
		fmt.Fprintf(w, "  epoch %d    %d shards from %s: %d commits; write share %s\n", i, e.Shards, from, total, strings.Join(shares, " "))
	}
	return nil
}

// epochOf is the index of the schedule's entry in force at commitID.
func epochOf(sched eventstore.ShardSchedule, commitID string) int {
	k := 0
	for i, e := range sched {
		if e.From <= commitID {
			k = i
		}
	}
	return k
}
