package limits_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/dynamotest/limits"
)

// putRate puts 1 KB items, at scale, to keys aggregates at full speed (4
// writers per key) and returns the puts/s stored during measure, which
// starts once every key was throttled: their bursts are spent. It also
// returns the throttles during measure.
func putRate(t *testing.T, scale float64, keys int, measure time.Duration) (float64, int64) {
	table := newTable(t)
	sim, client := newSim(t, limits.Config{Scale: scale})
	put(t, client, table, commit("warm-up", 0, -1, 10)) // the table's schema is learnt, the connection open
	var stored, throttled, throttledIn, version atomic.Int64
	var mu sync.Mutex
	var from time.Time // when the last key was first throttled
	hot := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	done := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().After(deadline) || (!from.IsZero() && time.Since(from) >= measure)
	}
	var wg sync.WaitGroup
	for w := range 4 * keys {
		wg.Go(func() {
			for !done() {
				v := int(version.Add(1))
				_, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{
					TableName: aws.String(table), Item: commit(fmt.Sprint("hot-", w%keys), v, -1, 1000)})
				var pte *types.ProvisionedThroughputExceededException
				switch {
				case err == nil:
					mu.Lock()
					if !from.IsZero() && time.Since(from) < measure {
						stored.Add(1)
					}
					mu.Unlock()
				case errors.As(err, &pte):
					mu.Lock()
					if !from.IsZero() && time.Since(from) < measure {
						throttledIn.Add(1)
					}
					if throttled.Add(1); !hot[w%keys] {
						if hot[w%keys] = true; len(hot) == keys {
							from = time.Now()
						}
					}
					mu.Unlock()
					time.Sleep(time.Millisecond)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if from.IsZero() {
		t.Fatalf("%d keys: no throttle in 5 s", keys)
	}
	rate := float64(stored.Load()) / measure.Seconds()
	t.Logf("%d keys at scale %g: %.0f puts/s stored over %v once all were throttled; %d throttles, %.0f WCU in all",
		keys, scale, rate, measure, throttled.Load(), sim.Stats().Total.WriteUnits)
	return rate, throttledIn.Load()
}

// checkLevel fails t unless rate is the limit want ±10 %. A machine too
// loaded to serve want puts/s falls short with hardly a throttle (at the
// limit, 4 writers a key meet several per put stored): that is the
// server's shortfall, not the simulator's, and only the upper bound holds.
func checkLevel(t *testing.T, what string, rate float64, throttles int64, want float64) {
	t.Helper()
	switch {
	case rate > 1.1*want:
		t.Errorf("%s: %.0f puts/s, over the limit %.0f +10 %%", what, rate, want)
	case rate < 0.9*want && float64(throttles) > 0.2*rate*2: // 2 s measured
		t.Errorf("%s: %.0f puts/s with %d throttles, under the limit %.0f -10 %%: the simulator throttles too early", what, rate, throttles, want)
	case rate < 0.9*want:
		t.Logf("%s: %.0f puts/s and no throttle: the server is slower than the limit here", what, rate)
	}
}

// One partition key value takes 100 WCU/s by default: 1 KB puts level off
// at 100/s once the 1 s burst is spent.
func TestPutsOneKeyLevelOff(t *testing.T) {
	rate, throttles := putRate(t, 0, 1, 2*time.Second)
	checkLevel(t, "one key", rate, throttles, 100)
}

// Four keys have four buckets: four times the rate of one. (At half the
// default scale, 50 WCU/s per key, for DynamoDB Local on 2 cores serves
// fewer than 400 puts/s with the simulator's read of the old item.)
func TestPutsFourKeys(t *testing.T) {
	rate, throttles := putRate(t, 0.05, 4, 2*time.Second)
	checkLevel(t, "four keys at 50 WCU/s each", rate, throttles, 200)
}
