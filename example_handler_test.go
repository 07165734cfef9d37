package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log"

	"github.com/dynacommit/eventstore"
)

// account is the state a command handler decides on.
type account struct {
	Balance int
}

// applyAccount folds one event into the state.
func applyAccount(a account, e eventstore.EventView) (account, error) {
	var amount struct{ Amount int }
	if err := json.Unmarshal(e.Event.Data, &amount); err != nil {
		return a, err
	}
	switch e.Event.Type {
	case "deposited":
		a.Balance += amount.Amount
	case "withdrawn":
		a.Balance -= amount.Amount
	}
	return a, nil
}

var errInsufficientFunds = errors.New("insufficient funds")

// decideWithdraw is the command's decision: the events it causes, or a
// refusal.
func decideWithdraw(a account, amount int) ([]eventstore.Event, error) {
	if amount > a.Balance {
		return nil, fmt.Errorf("withdraw %d of %d: %w", amount, a.Balance, errInsufficientFunds)
	}
	data, _ := json.Marshal(map[string]int{"amount": amount})
	return []eventstore.Event{{Type: "withdrawn", Data: data}}, nil
}

// withdraw is a complete command handler written out: load with Query and
// Fold, decide, append at the version after the loaded one, and treat the
// three outcomes of Append: stored, not stored (reload and decide again),
// unknown (retry the same Commit).
func withdraw(ctx context.Context, store *eventstore.Store, id string, amount int) (eventstore.Commit, error) {
	const attempts = 5
	var c eventstore.Commit
	var err error
	reload := true
	for range attempts {
		if reload {
			// Load: the state, and the version the new commit takes.
			next := int64(0)
			state, err := eventstore.Fold(store.Query(ctx, id, 0), account{},
				func(a account, e eventstore.EventView) (account, error) {
					next = e.Version + 1
					return applyAccount(a, e)
				})
			if err != nil {
				return c, err
			}
			events, err := decideWithdraw(state, amount)
			if err != nil {
				return c, err // refused by the domain: nothing to retry
			}
			c = eventstore.Commit{AggregateID: id, Version: next, Events: events}
		}
		c, err = store.Append(ctx, c)
		var notify *eventstore.NotifyError
		switch {
		case err == nil:
			return c, nil // stored
		case errors.As(err, &notify):
			return c, err // stored; only the notification failed
		case errors.Is(err, eventstore.ErrVersionConflict), errors.Is(err, eventstore.ErrCommitDeadline):
			// Not stored: another writer was first, or the write missed
			// its deadline. Reload and decide again, with a new CommitID.
			reload = true
		case errors.Is(err, eventstore.ErrInvalidCommit), errors.Is(err, eventstore.ErrShardMismatch), ctx.Err() != nil:
			return c, err // not stored, and no retry would store it
		default:
			// Unknown outcome (a timeout, a lost response): retry the SAME
			// Commit, CommitID included; if it was stored, Append says so.
			reload = false
		}
	}
	return c, err
}

// A command handler written out with Query, Fold and Append.
func Example_commandHandler() {
	ctx := context.Background()
	store := exampleStore("handler")
	data, _ := json.Marshal(map[string]int{"amount": 100})
	if _, err := store.Append(ctx, eventstore.Commit{AggregateID: "account#7", Version: 0,
		Events: []eventstore.Event{{Type: "deposited", Data: data}}}); err != nil {
		log.Fatal(err)
	}

	c, err := withdraw(ctx, store, "account#7", 30)
	fmt.Println("withdrew 30 at version", c.Version, err)
	_, err = withdraw(ctx, store, "account#7", 80)
	fmt.Println(err, errors.Is(err, errInsufficientFunds))
	// Output:
	// withdrew 30 at version 1 <nil>
	// withdraw 80 of 70: insufficient funds true
}

// Store.Update runs the same loop: decide gets the loaded history.
func ExampleStore_Update() {
	ctx := context.Background()
	store := exampleStore("update")
	deposit := func(amount int) func(iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
		return func(history iter.Seq2[eventstore.Commit, error]) ([]eventstore.Event, error) {
			state, err := eventstore.Fold(history, account{}, applyAccount)
			if err != nil {
				return nil, err
			}
			if state.Balance+amount > 150 {
				return nil, fmt.Errorf("deposit %d: balance limit", amount)
			}
			data, _ := json.Marshal(map[string]int{"amount": amount})
			return []eventstore.Event{{Type: "deposited", Data: data}}, nil
		}
	}
	for _, amount := range []int{100, 40, 20} {
		c, err := store.Update(ctx, "account#8", deposit(amount))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("deposited", amount, "at version", c.Version)
	}
	// Output:
	// deposited 100 at version 0
	// deposited 40 at version 1
	// deposit 20: balance limit
}
