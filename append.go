package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dynacommit/eventstore/internal/retry"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"
)

// Append stores c as one item with one conditional PutItem, all its events
// or none, at c.Version of c.AggregateID. It keeps a CommitID the caller set
// (it must be a ULID, at most Config.MaxCommitLatency ahead of the store's
// clock) and assigns one otherwise; CommittedAt is the instant of the
// CommitID. Whatever the error, the returned Commit carries the CommitID,
// so calling Append again with it is an idempotent retry: if the first
// attempt was stored, the retry reports success and writes nothing.
//
// The store knows the CommitIDs it assigned (those of the Commits this
// process's Append, AppendAll, AppendNext, AppendNew and Update return)
// from those a caller made, and one it assigned stays its own: where it is
// not greater than version c.Version-1's (a predecessor written by a
// clock ahead), Append replaces it, as it would a new one, rather than
// refuse it. That is safe on a retry too: a CommitID not greater than the
// predecessor's was never sent.
//
// Errors: ErrInvalidCommit or ErrCommitTooLarge before any request, so
// nothing is written: among them, a caller-set CommitID more than
// Config.MaxCommitLatency ahead of the store's clock, and a store clock
// outside the ULID range (1970 to the year 10889); ErrInvalidCommit naming
// both ids, before any write, for a caller-set CommitID not greater than
// version c.Version-1's, and for any commit after a version c.Version-1
// whose CommitID is at the largest ULID time, which no CommitID can
// follow;
// *VersionGapError (ErrVersionGap) when version c.Version-1 is not stored
// (see doc.go, "Causal order"); *VersionConflictError when another commit
// holds the version; *CommitMismatchError when c's CommitID is stored
// there with other content (a retry must send the same commit; see
// doc.go, "Guarantees");
// *NotifyError when the commit was stored but the Notifier failed;
// ErrCommitDeadline when the commit did not land before its writer deadline
// and never will (retry with a new CommitID); ErrShardMismatch when the
// table was created with another ScanShards; ErrSettleMismatch when
// c's store has a longer MaxCommitLatency than the table records;
// ErrTableNotFound when there is no such table (in the client's account
// and region) and ErrTableMismatch when it has another key: nothing was
// written, and retrying does not help. A nil
// error with the returned Commit's LandedLate set means stored, but
// learned only after the writer deadline. Any other error (network,
// throttling past the SDK's retries, a cancelled ctx) matches
// ErrOutcomeUnknown: retry with the returned Commit, unchanged, to settle
// it.
//
// The writer deadline: no PutItem attempt, the SDK's retries included, is
// sent once the CommitID's time is older than Config.MaxCommitLatency, so no
// commit can land later than that after its CommitID's time, and Scan's
// settle window can wait it out. When the deadline cut an attempt short, or
// had passed before Append began (a retry with an old Commit), Append
// settles it with one conditional update that fences the key against this
// CommitID unless a commit holds it (see doc.go, "Settle window"): success if this commit
// landed, a conflict if another did, or ErrCommitDeadline, final even for an
// attempt still on its way. A caller-set CommitID must therefore be fresh.
//
// Append is safe for concurrent use.
func (s *Store) Append(ctx context.Context, c Commit) (Commit, error) {
	ctx, t := s.observe(ctx, OpAppend)
	c, err := s.appendOne(ctx, c)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) appendOne(ctx context.Context, c Commit) (Commit, error) {
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	one := []Commit{c}
	prev, err := s.chain(ctx, one, []bool{assigned(c.CommitID)})
	if err != nil {
		return one[0], err
	}
	return s.write(ctx, one[0], p, prev[0])
}

// prepare checks c, giving it a CommitID if it has none, and encodes its
// events. A CommitID the store gives is taken again once the events are
// encoded, so that encoding a large commit does not eat into its writer
// deadline.
func (s *Store) prepare(c *Commit) (packed, error) {
	fresh := c.CommitID == ""
	if err := s.assignCommitID(c); err != nil {
		return packed{}, err
	}
	trimData(c)
	if err := c.validate(); err != nil {
		return packed{}, err
	}
	p, err := s.pack(*c)
	if err != nil {
		return packed{}, err
	}
	if err := s.checkFits(*c, p); err != nil { // before any request
		return packed{}, err
	}
	if fresh {
		c.CommitID = ""
		if err := s.assignCommitID(c); err != nil {
			return packed{}, err
		}
	}
	return p, nil
}

// assignCommitID gives c a new CommitID, or checks the one it has, and
// sets CommittedAt to its time. A caller-set CommitID (one the store did
// not assign, see assigned) may be at most Config.MaxCommitLatency ahead
// of the store's clock: further ahead it is refused, so that no caller
// can store one at the edge of the ULID range, which no CommitID could
// follow.
func (s *Store) assignCommitID(c *Commit) error {
	now := s.cfg.now()
	if c.CommitID == "" {
		id, err := nextCommitID(now)
		if err != nil {
			return fmt.Errorf("%w (aggregate %q version %d)", err, c.AggregateID, c.Version)
		}
		c.CommitID, c.CommittedAt = id.String(), commitTime(id)
		return nil
	}
	id, canonical, err := parseAnyCase(c.CommitID)
	if err != nil {
		return fmt.Errorf("%w: commit id: %v", ErrInvalidCommit, err)
	}
	if ahead := commitTime(id).Sub(now); ahead > s.cfg.MaxCommitLatency && !assigned(canonical) {
		return fmt.Errorf("%w: %w: aggregate %q version %d: commit id %s is %v ahead of the store's clock, more than Config.MaxCommitLatency (%v)",
			ErrInvalidCommit, errCommitIDAhead, c.AggregateID, c.Version, canonical, ahead, s.cfg.MaxCommitLatency)
	}
	c.CommitID, c.CommittedAt = canonical, commitTime(id)
	return nil
}

// write stores a prepared commit, its offloaded events first, and then
// notifies. prev is its predecessor's CommitID ("" at version 0).
func (s *Store) write(ctx context.Context, c Commit, p packed, prev string) (Commit, error) {
	enc, err := s.stage(ctx, c, p, prev, s.checkWriter)
	if err != nil {
		return c, err
	}
	if err := s.put(ctx, c, enc.item); err != nil {
		s.dropBlobs(ctx, err, nil, enc)
		return c, err
	}
	c = s.landed(ctx, c)
	return c, s.notify(ctx, c)
}

// stage does what comes before the put of a prepared commit: its item,
// linked to prev, the table's check (check), and its offloaded events,
// stored first. A failed request is an unknown outcome (failedBefore).
func (s *Store) stage(ctx context.Context, c Commit, p packed, prev string, check func(context.Context) error) (encoded, error) {
	if err := s.scheduleFor(ctx, c.CommitID); err != nil { // the shard count at c's CommitID
		return encoded{}, failedBefore(err)
	}
	enc, err := s.encodeItem(c, p)
	if err == nil {
		err = linkItem(c, enc.item, prev)
	}
	if err != nil {
		return enc, err
	}
	if err := check(ctx); err != nil {
		return enc, failedBefore(err)
	}
	if err := s.storeBlobs(ctx, enc); err != nil {
		return enc, failedBefore(err)
	}
	return enc, nil
}

// put writes item unless its key is taken. A taken key holding c itself
// (same CommitID and content, see sameCommit) is an earlier attempt of
// this same commit (an SDK retry after a lost response, or the caller's
// retry): success, nothing written twice.
//
// The common case sends the plain condition attribute_not_exists on the
// key, which costs DynamoDB less than the fence-aware one (putCondition).
// Only when it fails on a fence (see outcome.go) that did not refuse c is
// the put sent once more, with the fence-aware condition; a fence that
// refused c is ErrCommitDeadline, as before.
//
// No attempt is sent after the writer deadline: the request context ends
// there, which stops the SDK's retries too. When the deadline ends the
// write, or has passed before it, settle fences the key and tells what
// happened.
func (s *Store) put(ctx context.Context, c Commit, item map[string]types.AttributeValue) error {
	remaining := c.CommittedAt.Add(s.cfg.MaxCommitLatency).Sub(s.cfg.now())
	if remaining <= 0 {
		return s.resolveLate(ctx, c, nil)
	}
	putCtx, cancel := context.WithTimeout(ctx, remaining)
	defer cancel()
	cond, names, values := plainCondition()
	fenced := false // the fence-aware condition is sent at most once
	for {
		err := s.pacedPut(ctx, putCtx, item, cond, names, values, time.Time{})
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &failed) && !fenced && isFence(failed.Item) && !refused(failed.Item, c.CommitID):
			cond, names, values = putCondition(c.CommitID) // a fence of other commits: replace it
			fenced = true
			continue
		case errors.As(err, &failed):
			return s.heldBy(ctx, c, failed.Item, err)
		case putCtx.Err() != nil && ctx.Err() == nil: // the deadline, not the caller, ended it
			return s.resolveLate(ctx, c, err)
		default:
			return unknown(err, "eventstore: append aggregate %q version %d (commit %s, outcome unknown: retry with this commit)",
				c.AggregateID, c.Version, c.CommitID)
		}
	}
}

// pacedPut sends a conditional put, and sends it again after a pause
// while it is throttled past the SDK's attempts, until putCtx ends (for
// Append, the writer deadline, whose fence then decides the outcome) or,
// if until is not zero, until then (Import). A throttled write is not
// applied, and the SDK's retry quota, once spent, fails attempts at once:
// the pause, not the quota, paces a throttled writer. Other transient
// errors (a reset connection, a 5xx) may hide a write that landed: they
// are returned, an unknown outcome the caller's retry of the same commit
// resolves. The put is idempotent (the key's condition, and the identity
// check of a commit found stored), so sending it again is safe.
func (s *Store) pacedPut(ctx, putCtx context.Context, item map[string]types.AttributeValue, cond *string,
	names map[string]string, values map[string]types.AttributeValue, until time.Time) error {
	var pause backoff.BackOff
	for {
		err := s.conditionalPut(putCtx, item, cond, names, values)
		if err == nil || ctx.Err() != nil || !retry.Throttled(err) || (!until.IsZero() && s.cfg.now().After(until)) {
			return err
		}
		if pause == nil {
			pause = putBackoff()
		}
		if !retry.Sleep(putCtx, pause.NextBackOff()) {
			return err // putCtx ended: the caller resolves
		}
		note(ctx, func(o *Observation) { o.Retries++ })
	}
}

// putBackoff paces the puts of a throttled writer: exponential from 50 ms
// to 1 s, with jitter (±50 %) so that writers throttled together do not
// come back together.
func putBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 50*time.Millisecond, time.Second, 0
	return b
}

// conditionalPut sends one PutItem of item under cond, asking DynamoDB
// for the item that made the condition fail, if it does.
func (s *Store) conditionalPut(ctx context.Context, item map[string]types.AttributeValue, cond *string,
	names map[string]string, values map[string]types.AttributeValue) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.cfg.Table),
		Item:                                item,
		ConditionExpression:                 cond,
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, s.opts...)
	return err
}

func (s *Store) notify(ctx context.Context, c Commit) error {
	if s.cfg.Notifier == nil {
		return nil
	}
	if err := s.cfg.Notifier.Notify(ctx, c); err != nil {
		return &NotifyError{Commit: c, Err: err}
	}
	return nil
}

// defaultAppendNextAttempts is how many appends AppendNext tries, by
// default, before it gives up on an aggregate others keep writing to.
const defaultAppendNextAttempts = 5

// AppendNext appends c at the next version of its aggregate, whatever that
// is (KurrentDB's "any" expected state): it reads the latest version with
// one consistent Query, appends at the version after it, and when another
// writer takes that version first, reads and appends again, up to
// Config.AppendNextAttempts times, with a short random pause between. It
// sets c.Version; the returned Commit has the version it was stored at.
// Use it for commits that do not depend on the aggregate's state (a log of
// facts); where a decision depends on the state, load the aggregate and
// Append at the version after it.
//
// Each attempt takes a fresh CommitID unless the caller set one (a
// CommitID the store assigned, as in a Commit AppendNext returned, is not
// the caller's; see Append). If c.CommitID is set, as when retrying an
// AppendNext that failed (an unknown outcome, or conflicts on every
// attempt) with the Commit it returned, the first attempt is at c.Version
// as given, so that a commit stored there by the earlier call is
// recognised rather than stored twice; the attempts after it move on as
// usual.
//
// Errors: those of Append, validation before any request; ErrInvalidCommit
// when the aggregate is at version 2^63-1 (math.MaxInt64), which has no
// next version (a commit AT that version is fine); when every attempt met
// a conflict, the last *VersionConflictError. It is safe for concurrent
// use.
func (s *Store) AppendNext(ctx context.Context, c Commit) (Commit, error) {
	ctx, t := s.observe(ctx, OpAppendNext)
	c, err := s.appendNext(ctx, c)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) appendNext(ctx context.Context, c Commit) (Commit, error) {
	resend := c.CommitID != "" // a returned Commit: first at c.Version
	if !resend {
		c.Version = 0 // chosen below; 0 for validation
	}
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	own := assigned(c.CommitID)
	pause := backoff.NewExponentialBackOff()
	pause.InitialInterval, pause.MaxInterval, pause.MaxElapsedTime = 10*time.Millisecond, 200*time.Millisecond, 0
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			note(ctx, func(o *Observation) { o.Retries++ })
			if own { // another version: a new decision, a new CommitID
				c.CommitID = ""
				if err := s.assignCommitID(&c); err != nil {
					return c, err
				}
			}
		}
		prev, err := s.nextLink(ctx, &c, !resend || attempt > 1)
		if err == nil {
			err = follow(&c, prev, own)
		}
		if err != nil {
			return c, err
		}
		c, err = s.write(ctx, c, p, prev)
		var conflict *VersionConflictError
		switch {
		case !errors.As(err, &conflict):
			return c, err
		case attempt >= s.cfg.AppendNextAttempts:
			return c, fmt.Errorf("eventstore: AppendNext of aggregate %q gave up after %d attempts: %w", c.AggregateID, attempt, err)
		}
		if !retry.Sleep(ctx, pause.NextBackOff()) {
			return c, fmt.Errorf("eventstore: AppendNext of aggregate %q: %w", c.AggregateID, ctx.Err())
		}
	}
}

// AppendNew appends c as version 0, the first commit of an aggregate that
// must not exist yet (KurrentDB's "no stream" expected state). It reads
// the latest version with one consistent Query and fails with an error
// matching ErrAggregateExists, holding a *VersionConflictError, if the
// aggregate has any commit, or if another writer creates it first. It sets
// c.Version to 0.
//
// As with Append, retrying with the returned Commit (its CommitID set)
// after an unknown outcome or a *NotifyError reports success if the
// earlier call stored it, and notifies again; other content under that
// CommitID is a *CommitMismatchError.
// Errors: those of Append, validation before any request. It is safe for
// concurrent use.
func (s *Store) AppendNew(ctx context.Context, c Commit) (Commit, error) {
	ctx, t := s.observe(ctx, OpAppendNew)
	c, err := s.appendNew(ctx, c)
	return c, s.done(ctx, t, stored(err, 1), err)
}

func (s *Store) appendNew(ctx context.Context, c Commit) (Commit, error) {
	resent := c.CommitID != "" // perhaps a retry of a call that stored it
	c.Version = 0
	p, err := s.prepare(&c)
	if err != nil {
		return c, err
	}
	latest, holder, err := s.latest(ctx, c.AggregateID)
	if err != nil {
		return c, failedBefore(err)
	}
	if latest < 0 {
		c, err = s.write(ctx, c, p, "")
		if errors.Is(err, ErrVersionConflict) {
			err = fmt.Errorf("%w: %w", ErrAggregateExists, err)
		}
		return c, err
	}
	if latest > 0 {
		holder = ""
	}
	if resent && (latest > 0 || holder == c.CommitID) {
		// Is version 0 this commit, stored by the earlier call? Read it
		// whole, to compare its content, and announce it again, as Append
		// does: the earlier call may have failed to.
		item, err := s.readKey(ctx, c)
		if err != nil {
			return c, unknown(err, "eventstore: AppendNew of aggregate %q (commit %s, outcome unknown: retry with this commit)", c.AggregateID, c.CommitID)
		}
		if holder, _ = stringAttr(item, attrCommitID); holder == c.CommitID {
			if err := s.sameCommit(ctx, c, item); err != nil {
				return c, err
			}
			note(ctx, func(o *Observation) { o.Duplicates++ })
			return c, s.notify(ctx, c)
		}
	}
	note(ctx, func(o *Observation) { o.Conflicts++ })
	return c, fmt.Errorf("%w: aggregate %q has commits up to version %d (%w)", ErrAggregateExists, c.AggregateID, latest,
		&VersionConflictError{AggregateID: c.AggregateID, Version: 0, CommitID: holder})
}
