package projection

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// state reads and writes one consumer's items. Every write of a partition
// by its holder is conditional on the owner token and the term (the
// fencing token), which each acquire and each reset increments, so a
// process that lost a lease can never move its checkpoint or its parked
// set again.
type state struct {
	client DynamoDBAPI
	table  string
	name   string
	id     string // consumerID(name)
}

func newState(client DynamoDBAPI, table, name string) *state {
	return &state{client: client, table: table, name: name, id: consumerID(name)}
}

// newToken returns a process token: host, process id and 8 random bytes,
// so an operator can tell who holds a lease.
func newToken() string {
	host, _ := os.Hostname()
	b := make([]byte, 8)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// update sends one UpdateItem; names holds the placeholders used.
func (st *state) update(ctx context.Context, version int64, expr, cond string, names map[string]string,
	values map[string]types.AttributeValue, ret types.ReturnValue) (map[string]types.AttributeValue, error) {
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(st.table),
		Key:                      key(st.id, version),
		UpdateExpression:         aws.String(expr),
		ExpressionAttributeNames: names,
		ReturnValues:             ret,
	}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
	}
	out, err := st.client.UpdateItem(ctx, in)
	if err != nil {
		return nil, err
	}
	return out.Attributes, nil
}

func conditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// register adds the consumer to the registry and creates its header with
// partitions if it has none; it returns the stored header.
func (st *state) register(ctx context.Context, partitions int) (header, error) {
	reg := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       key(registryID, headerVersion),
		UpdateExpression:          aws.String("ADD #n :n"),
		ExpressionAttributeNames:  map[string]string{"#n": attrNames},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberSS{Value: []string{st.name}}},
	}
	if _, err := st.client.UpdateItem(ctx, reg); err != nil {
		return header{}, fmt.Errorf("projection: register consumer %s in table %s: %w", st.name, st.table, err)
	}
	item, err := st.update(ctx, headerVersion, "SET #p = if_not_exists(#p, :p)", "",
		map[string]string{"#p": attrPartitions}, map[string]types.AttributeValue{":p": n(int64(partitions))}, types.ReturnValueAllNew)
	if err != nil {
		return header{}, fmt.Errorf("projection: create consumer %s in table %s: %w", st.name, st.table, err)
	}
	return decodeHeader(item)
}

// join renews token's membership until until.
func (st *state) join(ctx context.Context, token string, until time.Time) error {
	_, err := st.update(ctx, headerVersion, "SET #m.#t = :u", "attribute_exists(#m)",
		map[string]string{"#m": attrMembers, "#t": token}, map[string]types.AttributeValue{":u": ms(until)}, types.ReturnValueNone)
	if conditionFailed(err) { // the first member creates the map
		_, err = st.update(ctx, headerVersion, "SET #m = if_not_exists(#m, :m)", "",
			map[string]string{"#m": attrMembers}, map[string]types.AttributeValue{":m": &types.AttributeValueMemberM{
				Value: map[string]types.AttributeValue{token: ms(until)}}}, types.ReturnValueNone)
		if err == nil {
			return st.join(ctx, token, until)
		}
	}
	if err != nil {
		return fmt.Errorf("projection: renew membership of consumer %s in table %s: %w", st.name, st.table, err)
	}
	return nil
}

// leave removes member token if its lease ended before now (or always, for
// a process leaving: now zero).
func (st *state) leave(ctx context.Context, token string, now time.Time) error {
	cond := ""
	values := map[string]types.AttributeValue{}
	if !now.IsZero() {
		cond, values[":now"] = "#m.#t < :now", ms(now)
	}
	_, err := st.update(ctx, headerVersion, "REMOVE #m.#t", cond, map[string]string{"#m": attrMembers, "#t": token},
		values, types.ReturnValueNone)
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("projection: remove member of consumer %s in table %s: %w", st.name, st.table, err)
	}
	return nil
}

// read returns the header and every partition item stored (missing ones
// are zero states), with one consistent Query.
func (st *state) read(ctx context.Context) (header, []partitionState, bool, error) {
	var items []map[string]types.AttributeValue
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#a = :a AND #v < :zero"),
		ExpressionAttributeNames:  map[string]string{"#a": attrAggregateID, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": s(st.id), ":zero": n(0)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := st.client.Query(ctx, in)
		if err != nil {
			return header{}, nil, false, fmt.Errorf("projection: read consumer %s in table %s: %w", st.name, st.table, err)
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return st.decodeAll(items)
}

// decodeAll sorts the consumer's items into header and partitions.
func (st *state) decodeAll(items []map[string]types.AttributeValue) (header, []partitionState, bool, error) {
	var h header
	found := false
	parts := map[int]map[string]types.AttributeValue{}
	for _, item := range items {
		d := decoder{item: item}
		v := d.num(attrVersion)
		switch {
		case d.err != nil:
			return h, nil, false, fmt.Errorf("%w: consumer %s: %w", ErrCorruptState, st.name, d.err)
		case v == headerVersion:
			var err error
			if h, err = decodeHeader(item); err != nil {
				return h, nil, false, fmt.Errorf("consumer %s: %w", st.name, err)
			}
			found = true
		case v <= -2 && v > -2-MaxPartitions:
			parts[int(-2-v)] = item
		}
	}
	if !found {
		return h, nil, false, nil
	}
	out := make([]partitionState, h.partitions)
	for i := range out {
		p, err := decodePartition(parts[i], i)
		if err != nil {
			return h, nil, true, fmt.Errorf("consumer %s: %w", st.name, err)
		}
		out[i] = p
	}
	return h, out, true, nil
}

// acquire takes partition i's lease for token if it is free or expired,
// incrementing its term; ok is false when a live lease holds it.
func (st *state) acquire(ctx context.Context, i int, token, from string, lease time.Duration) (partitionState, bool, error) {
	now := time.Now()
	item, err := st.update(ctx, partitionVersion(i),
		"SET #o = :o, #l = :l, #c = if_not_exists(#c, :from), #p = if_not_exists(#p, :empty), #u = :f, #h = :zero ADD #t :one",
		"attribute_not_exists(#l) OR #l < :now",
		map[string]string{"#o": attrOwner, "#l": attrLeaseUntil, "#c": attrCheckpoint, "#t": attrTerm, "#u": attrCaughtUp, "#h": attrHandled, "#p": attrParked},
		map[string]types.AttributeValue{":empty": emptyMap(), ":o": s(token), ":l": ms(now.Add(lease)), ":from": s(from), ":one": n(1),
			":now": ms(now), ":f": &types.AttributeValueMemberBOOL{Value: false}, ":zero": n(0)},
		types.ReturnValueAllNew)
	if conditionFailed(err) {
		return partitionState{}, false, nil
	}
	if err != nil {
		return partitionState{}, false, fmt.Errorf("projection: acquire partition %d of consumer %s in table %s: %w", i, st.name, st.table, err)
	}
	p, err := decodePartition(item, i)
	return p, err == nil, err
}

// fenced applies an update of partition i if token still holds it in
// term; ErrLeaseLost if not. It returns the item after the update.
func (st *state) fenced(ctx context.Context, i int, token string, term int64, expr, cond string,
	names map[string]string, values map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	names["#o"], names["#t"] = attrOwner, attrTerm
	values[":me"], values[":term"] = s(token), n(term)
	c := "#o = :me AND #t = :term"
	if cond != "" {
		c += " AND (" + cond + ")"
	}
	item, err := st.update(ctx, partitionVersion(i), expr, c, names, values, types.ReturnValueAllNew)
	if conditionFailed(err) {
		return nil, ErrLeaseLost
	}
	if err != nil {
		return nil, fmt.Errorf("projection: update partition %d of consumer %s in table %s: %w", i, st.name, st.table, err)
	}
	return item, nil
}

// renew extends the lease and returns the partition as stored (an
// operator may have asked to retry or skip a parked aggregate).
func (st *state) renew(ctx context.Context, i int, token string, term int64, lease time.Duration) (partitionState, error) {
	item, err := st.fenced(ctx, i, token, term, "SET #l = :l", "", map[string]string{"#l": attrLeaseUntil},
		map[string]types.AttributeValue{":l": ms(time.Now().Add(lease))})
	if err != nil {
		return partitionState{}, err
	}
	return decodePartition(item, i)
}

// advance stores checkpoint (never backwards) and the progress, and
// extends the lease.
func (st *state) advance(ctx context.Context, i int, token string, term int64, lease time.Duration, pr Progress) error {
	_, err := st.fenced(ctx, i, token, term, "SET #c = :c, #l = :l, #u = :u, #g = :g, #h = :h, #r = :r", "#c <= :c",
		map[string]string{"#c": attrCheckpoint, "#l": attrLeaseUntil, "#u": attrCaughtUp, "#g": attrLagMs, "#h": attrHandled, "#r": attrReportedAt},
		map[string]types.AttributeValue{":c": s(pr.Checkpoint), ":l": ms(time.Now().Add(lease)),
			":u": &types.AttributeValueMemberBOOL{Value: pr.CaughtUp}, ":g": n(pr.Lag.Milliseconds()),
			":h": n(pr.Handled), ":r": ms(time.Now())})
	return err
}

// release ends token's lease on partition i now.
func (st *state) release(ctx context.Context, i int, token string, term int64) error {
	_, err := st.fenced(ctx, i, token, term, "SET #l = :zero", "", map[string]string{"#l": attrLeaseUntil},
		map[string]types.AttributeValue{":zero": n(0)})
	return err
}

// park records p in partition i.
func (st *state) park(ctx context.Context, token string, term int64, p Parked) error {
	_, err := st.fenced(ctx, p.Partition, token, term, "SET #p.#a = :p", "",
		map[string]string{"#p": attrParked, "#a": p.AggregateID}, map[string]types.AttributeValue{":p": encodeParked(p)})
	return err
}

// unpark removes agg from partition i's parked aggregates.
func (st *state) unpark(ctx context.Context, i int, token string, term int64, agg string) error {
	_, err := st.fenced(ctx, i, token, term, "REMOVE #p.#a", "", map[string]string{"#p": attrParked, "#a": agg},
		map[string]types.AttributeValue{})
	return err
}

// request records an operator's action on a parked aggregate, whoever
// holds the partition; ErrNotParked if it is not parked there.
func (st *state) request(ctx context.Context, i int, agg, action string) error {
	_, err := st.update(ctx, partitionVersion(i), "SET #p.#a.#x = :x", "attribute_exists(#p.#a)",
		map[string]string{"#p": attrParked, "#a": agg, "#x": parkedAction}, map[string]types.AttributeValue{":x": s(action)},
		types.ReturnValueNone)
	if conditionFailed(err) {
		return fmt.Errorf("%w: %q in consumer %s", ErrNotParked, agg, st.name)
	}
	if err != nil {
		return fmt.Errorf("projection: %s %q of consumer %s in table %s: %w", action, agg, st.name, st.table, err)
	}
	return nil
}

// reset moves partition i's checkpoint to from (any way), forgets its
// parked aggregates and fences off its holder by a new term.
func (st *state) reset(ctx context.Context, i int, from string) error {
	_, err := st.update(ctx, partitionVersion(i), "SET #c = :c, #l = :zero, #u = :f, #p = :empty REMOVE #o ADD #t :one", "",
		map[string]string{"#c": attrCheckpoint, "#l": attrLeaseUntil, "#u": attrCaughtUp, "#p": attrParked, "#o": attrOwner, "#t": attrTerm},
		map[string]types.AttributeValue{":c": s(from), ":empty": emptyMap(), ":zero": n(0), ":one": n(1), ":f": &types.AttributeValueMemberBOOL{Value: false}},
		types.ReturnValueNone)
	if err != nil {
		return fmt.Errorf("projection: reset partition %d of consumer %s in table %s: %w", i, st.name, st.table, err)
	}
	return nil
}

// setPartitions stores a new partition count (a reset with a new count).
func (st *state) setPartitions(ctx context.Context, partitions int) error {
	_, err := st.update(ctx, headerVersion, "SET #p = :p", "", map[string]string{"#p": attrPartitions},
		map[string]types.AttributeValue{":p": n(int64(partitions))}, types.ReturnValueNone)
	if err != nil {
		return fmt.Errorf("projection: set partitions of consumer %s in table %s: %w", st.name, st.table, err)
	}
	return nil
}

// names lists the consumers in the registry.
func registered(ctx context.Context, client DynamoDBAPI, table string) ([]string, error) {
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(registryID, headerVersion),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("projection: read the consumers of table %s: %w", table, err)
	}
	v, ok := out.Item[attrNames]
	if !ok {
		return nil, nil
	}
	ss, ok := v.(*types.AttributeValueMemberSS)
	if !ok {
		return nil, fmt.Errorf("%w: registry: attribute %s is %T", ErrCorruptState, attrNames, v)
	}
	return ss.Value, nil
}

func emptyMap() types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
}
