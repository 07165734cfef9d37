package eventstore

import (
	"context"
	"errors"
	"fmt"

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
// c's key against it (see fence.go), so that c is stored now (success),
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
// fence.go): if no commit held it, the transaction, all or nothing, can
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
