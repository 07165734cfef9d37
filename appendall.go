package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dynacommit/eventstore/internal/retry"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"
)

// MaxAppendAll is the most commits one AppendAll stores: DynamoDB's limit
// of actions in one transaction.
const MaxAppendAll = 100

// maxTransactionBytes is DynamoDB's limit of the items of one transaction.
const maxTransactionBytes = 4 << 20

// AppendAll stores up to MaxAppendAll commits, of one or several
// aggregates, all or none, with one TransactWriteItems: each commit is
// stored at its version only if no commit holds that version yet, and if
// any of them cannot be, none is. A single commit is stored as Append
// stores it (one PutItem, half the cost of a transaction).
//
// Like Append, AppendAll keeps the CommitIDs the caller set and assigns the
// others, in increasing order (and replaces one it assigned that is not
// greater than its predecessor's; see Append); whatever the error, the returned commits
// carry their CommitIDs, so calling AppendAll again with them is an
// idempotent retry. The request carries a ClientRequestToken derived from
// the items, so that DynamoDB applies a resent request once; a resend that
// finds the commits' own CommitIDs in place reports success too.
//
// Errors: a validation error before any request, with the index of the
// offending commit (those of Append; ErrInvalidCommit for no commits, or
// for two commits of one aggregate and version, or with one CommitID;
// past 100 commits or 4 MB), so nothing is written; on a
// conflict, an error holding one *VersionConflictError per conflicting
// commit (errors.As finds the first, Conflicts returns all; none of the
// commits is stored); a *VersionGapError (ErrVersionGap) when one
// aggregate's versions in the group are not contiguous, or the lowest
// one's predecessor is not stored (checked before writing: from the
// Store's memory, or one GetItem per aggregate, in parallel; see doc.go,
// "Causal order"); ErrCommitDeadline; ErrShardMismatch; ErrSettleMismatch;
// an error joining
// one *NotifyError per failed notification (all the commits are stored).
// A *CommitMismatchError for each commit whose CommitID is stored with
// other content; when some of the commits are stored already by an
// earlier write of another group, a *VersionConflictError naming each
// (the group can never be stored as a whole, and none of the others is:
// reload and append them). Any other error matches ErrOutcomeUnknown:
// retry with the returned commits, unchanged. The blobs of offloaded
// events written for a group that is not stored are deleted.
//
// The writer deadline of Append applies to the group: no attempt is sent
// once the earliest commit's time is older than Config.MaxCommitLatency.
// Transaction conflicts with concurrent writers and throttling are retried
// until then; past it, a fence on the first commit's key (see doc.go, "Settle window") and
// reads of the others settle the outcome.
// AppendAll is safe for concurrent use.
func (s *Store) AppendAll(ctx context.Context, commits ...Commit) ([]Commit, error) {
	ctx, t := s.observe(ctx, OpAppendAll)
	out, err := s.appendAll(ctx, commits)
	return out, s.done(ctx, t, stored(err, len(out)), err)
}

func (s *Store) appendAll(ctx context.Context, commits []Commit) ([]Commit, error) {
	out, packs, err := s.prepareAll(commits)
	if err != nil {
		return out, err
	}
	own := make([]bool, len(out))
	for i, c := range out {
		own[i] = assigned(c.CommitID)
	}
	prevs, err := s.chain(ctx, out, own)
	if err != nil {
		return out, err
	}
	if len(out) == 1 {
		out[0], err = s.write(ctx, out[0], packs[0], prevs[0])
		return out, err
	}
	for _, c := range out { // the shard count at each CommitID
		if err := s.scheduleFor(ctx, c.CommitID); err != nil {
			return out, failedBefore(err)
		}
	}
	encs, items, err := s.encodeAll(out, packs)
	for i := range items {
		if err == nil {
			err = linkItem(out[i], items[i], prevs[i])
		}
	}
	if err != nil {
		return out, err
	}
	if err := s.checkWriter(ctx); err != nil {
		return out, failedBefore(err)
	}
	if err := s.storeBlobs(ctx, encs...); err != nil {
		return out, failedBefore(err)
	}
	keep := map[string]bool{} // blob keys of the stored items met
	if err := s.transact(ctx, out, items, keep); err != nil {
		s.dropBlobs(ctx, err, keep, encs...)
		return out, err
	}
	var errs []error
	for i, c := range out {
		out[i] = s.landed(ctx, c)
		if err := s.notify(ctx, out[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// prepareAll copies the commits, prepares each (CommitID, validation,
// encoded events) and validates the group.
func (s *Store) prepareAll(commits []Commit) ([]Commit, []packed, error) {
	switch n := len(commits); {
	case n == 0:
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidCommit, errNoCommits)
	case n > MaxAppendAll:
		return slices.Clone(commits), nil, fmt.Errorf("%w: %w: %d commits, at most %d", ErrInvalidCommit, errTransactionTooLarge, n, MaxAppendAll)
	}
	out := slices.Clone(commits)
	packs := make([]packed, len(out))
	type key struct {
		aggregateID string
		version     int64
	}
	keys, ids := make(map[key]int, len(out)), make(map[string]int, len(out))
	for i := range out {
		c := &out[i]
		p, err := s.prepare(c)
		if err != nil {
			return out, nil, fmt.Errorf("%w (AppendAll commit %d)", err, i)
		}
		packs[i] = p
		if j, dup := keys[key{c.AggregateID, c.Version}]; dup {
			return out, nil, fmt.Errorf("%w: %w: commits %d and %d are both aggregate %q version %d", ErrInvalidCommit, errDuplicateCommit, j, i, c.AggregateID, c.Version)
		}
		if j, dup := ids[c.CommitID]; dup {
			return out, nil, fmt.Errorf("%w: %w: commits %d and %d both have commit id %s", ErrInvalidCommit, errDuplicateCommit, j, i, c.CommitID)
		}
		keys[key{c.AggregateID, c.Version}], ids[c.CommitID] = i, i
	}
	return out, packs, nil
}

// encodeAll encodes the commits of a transaction, their items within its
// 4 MB.
func (s *Store) encodeAll(commits []Commit, packs []packed) ([]encoded, []map[string]types.AttributeValue, error) {
	encs := make([]encoded, len(commits))
	items := make([]map[string]types.AttributeValue, len(commits))
	total := 0
	for i, c := range commits {
		enc, err := s.encodeItem(c, packs[i])
		if err != nil {
			return nil, nil, fmt.Errorf("%w (AppendAll commit %d)", err, i)
		}
		encs[i], items[i] = enc, enc.item
		total += itemSize(enc.item)
	}
	if total > maxTransactionBytes {
		return nil, nil, fmt.Errorf("%w: %w: %d commits encode to %d bytes, over DynamoDB's limit of %d per transaction",
			ErrInvalidCommit, errTransactionTooLarge, len(commits), total, maxTransactionBytes)
	}
	return encs, items, nil
}

// transact writes the items in one transaction, sent again after
// transaction conflicts, throttling and transient errors until the
// deadline of the earliest commit; past it, reads of the keys settle.
//
// keep collects the blob keys of the stored items the outcome was read
// from, which a cleanup must not delete.
func (s *Store) transact(ctx context.Context, commits []Commit, items []map[string]types.AttributeValue, keep map[string]bool) error {
	in := s.transactInput(items)
	deadline := slices.MinFunc(commits, func(a, b Commit) int { return a.CommittedAt.Compare(b.CommittedAt) }).
		CommittedAt.Add(s.cfg.MaxCommitLatency)
	pause := backoff.NewExponentialBackOff()
	pause.InitialInterval, pause.MaxInterval, pause.MaxElapsedTime = 20*time.Millisecond, time.Second, 0
	var cause error
	for attempt := 0; ; attempt++ {
		remaining := deadline.Sub(s.cfg.now())
		if remaining <= 0 {
			return s.resolveLateAll(ctx, commits, cause, keep)
		}
		if attempt > 0 {
			note(ctx, func(o *Observation) { o.Retries++ })
		}
		tctx, cancel := context.WithTimeout(ctx, remaining)
		_, err := s.client.TransactWriteItems(tctx, in, s.opts...)
		deadlineHit := tctx.Err() != nil && ctx.Err() == nil
		cancel()
		var canceled *types.TransactionCanceledException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &canceled):
			if done, err := s.cancelled(ctx, commits, canceled, keep); done {
				return err
			}
		case deadlineHit:
			return s.resolveLateAll(ctx, commits, err, keep)
		case ctx.Err() != nil || !retry.Transient(err):
			return unknownAll(commits, err)
		}
		cause = err
		if !retry.Sleep(ctx, min(pause.NextBackOff(), max(deadline.Sub(s.cfg.now()), 0))) {
			return unknownAll(commits, ctx.Err())
		}
	}
}

func (s *Store) transactInput(items []map[string]types.AttributeValue) *dynamodb.TransactWriteItemsInput {
	in := &dynamodb.TransactWriteItemsInput{
		TransactItems:      make([]types.TransactWriteItem, len(items)),
		ClientRequestToken: aws.String(requestToken(s.cfg.Table, items)),
		// Always asked for: the token's request must not change when an
		// Observer comes or goes.
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	for i, item := range items {
		id, _ := stringAttr(item, attrCommitID)
		cond, names, values := putCondition(id)
		in.TransactItems[i] = types.TransactWriteItem{Put: &types.Put{
			TableName:                           aws.String(s.cfg.Table),
			Item:                                item,
			ConditionExpression:                 cond,
			ExpressionAttributeNames:            names,
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	return in
}

// cancelled interprets a cancelled transaction: done, with the outcome, or
// not done when it is worth sending again (a transaction conflict with a
// concurrent writer, throttling).
func (s *Store) cancelled(ctx context.Context, commits []Commit, e *types.TransactionCanceledException, keep map[string]bool) (bool, error) {
	var found []error
	var others []string
	var own []int
	again := false
	for i, r := range e.CancellationReasons {
		if i >= len(commits) {
			break
		}
		switch code := aws.ToString(r.Code); code {
		case "", "None":
		case "ConditionalCheckFailed":
			if refused(r.Item, commits[i].CommitID) { // a settle elsewhere refused the group
				return true, s.late(ctx, commits...)
			}
			item, err := s.heldItem(ctx, commits[i], r.Item, keep)
			if err != nil {
				return true, unknownAll(commits, err)
			}
			switch err := s.whoHolds(ctx, commits[i], item, e); {
			case err == nil:
				own = append(own, i)
			case errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrCommitMismatch):
				found = append(found, err)
			default:
				return true, unknownAll(commits, err)
			}
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			again = true
		default:
			others = append(others, fmt.Sprintf("commit %d: %s %s", i, code, aws.ToString(r.Message)))
		}
	}
	switch {
	case len(found) > 0:
		return true, s.conflictAll(ctx, commits, found)
	case len(own) == len(commits):
		note(ctx, func(o *Observation) { o.Duplicates += len(own) })
		return true, nil
	case len(own) > 0:
		return true, s.partlyStored(ctx, commits, own)
	case len(others) > 0:
		return true, fmt.Errorf("eventstore: AppendAll of %d commits cancelled, none stored: %s: %w", len(commits), strings.Join(others, "; "), e)
	case again:
		return false, nil
	}
	return true, fmt.Errorf("eventstore: AppendAll of %d commits cancelled, none stored: %w", len(commits), e)
}

// requestToken derives the ClientRequestToken of a transaction from the
// table and its items: the same commits give the same token, so DynamoDB
// applies a resent request once, and other commits another token.
func requestToken(table string, items []map[string]types.AttributeValue) string {
	h := sha256.New()
	hashBytes(h, []byte(table))
	for _, item := range items {
		hashValue(h, &types.AttributeValueMemberM{Value: item})
	}
	return hex.EncodeToString(h.Sum(nil))[:36] // DynamoDB takes up to 36 characters
}

// hashValue writes an unambiguous encoding of v: a type tag, then lengths
// before contents, map keys in order.
func hashValue(h hash.Hash, v types.AttributeValue) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		h.Write([]byte{'S'})
		hashBytes(h, []byte(v.Value))
	case *types.AttributeValueMemberN:
		h.Write([]byte{'N'})
		hashBytes(h, []byte(v.Value))
	case *types.AttributeValueMemberB:
		h.Write([]byte{'B'})
		hashBytes(h, v.Value)
	case *types.AttributeValueMemberM:
		h.Write([]byte{'M'})
		binary.Write(h, binary.BigEndian, uint64(len(v.Value)))
		for _, k := range slices.Sorted(maps.Keys(v.Value)) {
			hashBytes(h, []byte(k))
			hashValue(h, v.Value[k])
		}
	default: // the store writes no other type
		fmt.Fprintf(h, "?%T", v)
	}
}

func hashBytes(h hash.Hash, b []byte) {
	binary.Write(h, binary.BigEndian, uint64(len(b)))
	h.Write(b)
}

// Conflicts returns every *VersionConflictError in err's tree, in order:
// one per conflicting commit of an AppendAll, or the one of an Append.
// errors.As finds only the first.
func Conflicts(err error) []*VersionConflictError {
	var out []*VersionConflictError
	walkErrors(err, func(err error) {
		if c, ok := err.(*VersionConflictError); ok {
			out = append(out, c)
		}
	})
	return out
}
