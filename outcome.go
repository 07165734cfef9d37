package eventstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/dynacommit/eventstore/internal/retry"
)

// The outcome of a write that did not simply succeed: one classification
// of the item that holds a commit's key (the commit itself, another
// commit, a fence that refused it), and the resolution of writes that ran
// past their deadline, for Append, AppendAll, AppendNew, AppendNext and
// Import.

// whoHolds interprets the commit item that holds c's key: nil if it is c
// itself, a *VersionConflictError if another commit, a *CommitMismatchError
// if c's CommitID with other content, or the error of reading it.
func (s *Store) whoHolds(ctx context.Context, c Commit, item map[string]types.AttributeValue, cause error) error {
	holder, _ := stringAttr(item, attrCommitID)
	if holder != c.CommitID {
		return &VersionConflictError{AggregateID: c.AggregateID, Version: c.Version, CommitID: holder, Err: cause}
	}
	return s.sameCommit(ctx, c, item)
}

// heldBy interprets the item that holds c's key: c itself, another commit
// (a conflict), or a fence that refused c after its deadline.
func (s *Store) heldBy(ctx context.Context, c Commit, item map[string]types.AttributeValue, cause error) error {
	if refused(item, c.CommitID) {
		return s.late(ctx, c)
	}
	if isDeleted(item) && stringOr(item, attrCommitID) != c.CommitID { // a tombstone or its guard
		return fmt.Errorf("%w (%w)", deletedError(c.AggregateID, "append to it"), &VersionConflictError{AggregateID: c.AggregateID, Version: c.Version, Err: cause})
	}
	err := s.whoHolds(ctx, c, item, cause)
	switch {
	case err == nil:
		note(ctx, func(o *Observation) { o.Duplicates++ })
	case errors.Is(err, ErrVersionConflict):
		note(ctx, func(o *Observation) { o.Conflicts++ })
	}
	return err
}

// resolveLate decides the outcome of c once its deadline has passed: it fences
// c's key against it (see fence), so that c is stored now (success),
// another commit holds the version (a conflict), or c never will be stored
// (ErrCommitDeadline), even if an attempt is still on its way.
func (s *Store) resolveLate(ctx context.Context, c Commit, cause error) error {
	held, err := s.fence(ctx, c)
	if err != nil {
		return unknown(err, "eventstore: append aggregate %q version %d (commit %s, outcome unknown: retry with this commit): deadline passed",
			c.AggregateID, c.Version, c.CommitID)
	}
	if held != nil {
		return s.heldBy(ctx, c, held, cause)
	}
	return s.late(ctx, c)
}

// resolveLateAll decides the outcome of a transaction once the deadline of its
// earliest commit has passed. It fences the first commit's key (see
// fence): if no commit held it, the transaction, all or nothing, can
// never apply, even if an attempt is still on its way (ErrCommitDeadline).
// Otherwise reads of the other keys tell whether the group is stored
// (success) or which commits hold its versions (conflicts).
func (s *Store) resolveLateAll(ctx context.Context, commits []Commit, cause error, keep map[string]bool) error {
	held, err := s.fence(ctx, commits[0])
	if err != nil {
		return unknownAll(commits, fmt.Errorf("deadline passed: %w", err))
	}
	if held == nil || refused(held, commits[0].CommitID) {
		return s.late(ctx, commits...)
	}
	var found []error
	var own []int
	for i, c := range commits {
		item := held
		if i > 0 {
			if item, err = s.readKey(ctx, c); err != nil {
				return unknownAll(commits, fmt.Errorf("deadline passed, read failed: %w", err))
			}
		}
		if item == nil {
			continue
		}
		if item, err = s.heldItem(ctx, c, item, keep); err != nil {
			return unknownAll(commits, err)
		}
		switch err := s.whoHolds(ctx, c, item, cause); {
		case err == nil:
			own = append(own, i)
		case errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrCommitMismatch):
			found = append(found, err)
		default:
			return unknownAll(commits, err)
		}
	}
	switch {
	case len(own) == len(commits):
		note(ctx, func(o *Observation) { o.Duplicates += len(own) })
		return nil
	case len(found) > 0:
		return s.conflictAll(ctx, commits, found)
	}
	return s.partlyStored(ctx, commits, own)
}

// late is the error of commits refused after their deadline: one commit
// of an Append, or the group of an AppendAll.
func (s *Store) late(ctx context.Context, commits ...Commit) error {
	note(ctx, func(o *Observation) { o.LateRefusals += len(commits) })
	if len(commits) == 1 {
		c := commits[0]
		return fmt.Errorf("%w: aggregate %q version %d commit %s: %v after its time; retry with a new CommitID",
			ErrCommitDeadline, c.AggregateID, c.Version, c.CommitID, s.cfg.MaxCommitLatency)
	}
	return fmt.Errorf("%w: AppendAll of %d commits: %v after the time of its earliest commit; retry with new CommitIDs",
		ErrCommitDeadline, len(commits), s.cfg.MaxCommitLatency)
}

func (s *Store) conflictAll(ctx context.Context, commits []Commit, found []error) error {
	n := len(Conflicts(errors.Join(found...)))
	note(ctx, func(o *Observation) { o.Conflicts += n })
	return fmt.Errorf("eventstore: AppendAll: %d of %d commits conflict or are stored with other content, none of the group is stored: %w",
		len(found), len(commits), errors.Join(found...))
}

// partlyStored is the outcome of a group some of whose commits (own) are
// stored already, by an earlier write of another group: this group, all
// or nothing, can never be stored, and its other commits are not. The
// error holds a *VersionConflictError for each stored one, naming its own
// CommitID, so that the caller reloads and appends the others.
func (s *Store) partlyStored(ctx context.Context, commits []Commit, own []int) error {
	held := make([]error, len(own))
	for j, i := range own {
		c := commits[i]
		held[j] = &VersionConflictError{AggregateID: c.AggregateID, Version: c.Version, CommitID: c.CommitID}
	}
	note(ctx, func(o *Observation) { o.Conflicts += len(own) })
	return fmt.Errorf("eventstore: AppendAll: %d of %d commits are stored already, by an earlier write without the others; a transaction is all or nothing, so this group can never be stored and none of its other commits is: reload and append the others: %w",
		len(own), len(commits), errors.Join(held...))
}

// heldItem returns the item that holds c's key: the one the cancellation
// returned, or else read consistently. The blob key of a stored item goes
// to keep.
func (s *Store) heldItem(ctx context.Context, c Commit, item map[string]types.AttributeValue, keep map[string]bool) (map[string]types.AttributeValue, error) {
	if item == nil {
		var err error
		if item, err = s.readKey(ctx, c); err != nil {
			return nil, err
		}
	}
	if ref, _ := decodeRef(item); ref != nil {
		keep[ref.key] = true
	}
	return item, nil
}

// readKey reads the commit item stored at c's key, consistently; nil if
// no commit is (nothing, or a fence).
func (s *Store) readKey(ctx context.Context, c Commit) (map[string]types.AttributeValue, error) {
	out, err := retry.Do(ctx, func() (*dynamodb.GetItemOutput, error) {
		return s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.cfg.Table),
			Key:            keyOf(c.AggregateID, c.Version),
			ConsistentRead: aws.Bool(true),
		}, s.opts...)
	})
	if err != nil {
		return nil, fmt.Errorf("read aggregate %q version %d: %w", c.AggregateID, c.Version, err)
	}
	if _, ok := out.Item[attrCommitID]; !ok {
		return nil, nil
	}
	return out.Item, nil
}

func unknownAll(commits []Commit, err error) error {
	return unknown(err, "eventstore: AppendAll of %d commits (outcome unknown: retry with the returned commits)", len(commits))
}

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

// "The same commit": a write whose condition fails because its key holds
// its own CommitID succeeds only if the stored item is this very commit:
// same key, same CommitID, same events (each event's type, data bytes and
// metadata, in order) and same commit metadata. The item DynamoDB returns
// with the failed condition (ALL_OLD) is compared with the commit sent,
// cheaply when both encode the events alike (the events attribute byte for
// byte, or the offloaded blob's size and SHA-256), else by decoding both
// (an earlier attempt may have compressed or offloaded them otherwise).
// No digest attribute is stored: the comparison needs nothing the item
// does not hold already, and every byte of an item costs write units.

// sameCommit reports whether item, which holds c's key and CommitID, is
// c: nil if it is, a *CommitMismatchError naming what differs if not, or
// an error when the stored commit cannot be read (a corrupt item wraps
// ErrCorruptCommit; a blob store failure leaves the outcome unknown).
func (s *Store) sameCommit(ctx context.Context, c Commit, item map[string]types.AttributeValue) error {
	stored, ref, err := decodeStored(item)
	if err != nil {
		return err
	}
	sameEvents, err := s.sameEvents(ctx, c, &stored, ref, item)
	if err != nil {
		return err
	}
	var differs []string
	if !sameEvents {
		differs = append(differs, "events")
	}
	if !maps.Equal(stored.Metadata, c.Metadata) {
		differs = append(differs, "commit metadata")
	}
	if len(differs) == 0 {
		return nil
	}
	m := &CommitMismatchError{AggregateID: c.AggregateID, Version: c.Version, CommitID: c.CommitID, Differs: strings.Join(differs, " and ")}
	if ref != nil {
		m.storedKey = ref.key
	}
	return m
}

// sameEvents compares c's events with those of the stored commit (item,
// decoded as stored, with ref if they are offloaded).
func (s *Store) sameEvents(ctx context.Context, c Commit, stored *Commit, ref *blobRef, item map[string]types.AttributeValue) (bool, error) {
	p, err := s.pack(c)
	if err != nil {
		return false, err
	}
	enc, err := s.encodeItem(c, p)
	if err != nil {
		return false, err
	}
	switch {
	case ref == nil && sameAttr(item[attrEvents], enc.item[attrEvents]):
		return true, nil
	case ref != nil && enc.blob != nil && ref.size == int64(len(enc.blob)) && ref.sum == checksum(enc.blob):
		return true, nil
	case ref != nil:
		if err := s.fetchEvents(ctx, stored, ref); err != nil {
			return false, unknown(err, "eventstore: aggregate %q version %d: compare commit %s with the stored one", c.AggregateID, c.Version, c.CommitID)
		}
	}
	mine, err := decodeEvents(&types.AttributeValueMemberS{Value: string(p.raw)})
	if err != nil {
		return false, err
	}
	return equalEvents(stored.Events, mine), nil
}

// sameAttr reports whether a and b are the same string or binary value.
func sameAttr(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	}
	return false
}

// equalEvents compares events as decoded from the table: type, data bytes
// and metadata.
func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) || !maps.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}
