// Package benchmarks measures the store: speed, requests and consumed
// capacity, with go test -bench (make bench), and side by side with other
// DynamoDB event stores in peers/ (make bench-peers).
//
// The benchmarks that talk to DynamoDB use dynamotest: they start DynamoDB
// Local, or use DYNAMODB_ENDPOINT. Capacity is what DynamoDB reports with
// ReturnConsumedCapacity, summed by Meter. BenchmarkFloor compares the
// store with a bare SDK loop, and BenchmarkPutCost prices the parts of a
// PutItem on DynamoDB Local; Cost takes the client's, the server's and the
// machine's CPU time around a loop (see FLOOR.md).
package benchmarks

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/dynacommit/eventstore"
)

// PayloadSize is the approximate size in bytes of one event's data.
const PayloadSize = 200

// EventTypes are the event types of the workloads, used in turn.
var EventTypes = []string{"accountOpened", "moneyDeposited", "moneyWithdrawn", "addressChanged", "statementIssued"}

var words = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india
juliett kilo lima mike november oscar papa quebec romeo sierra tango uniform victor
whiskey xray yankee zulu invoice payment refund transfer salary rent groceries fuel
coffee books travel insurance utilities dividend interest fee`)

// Payloads returns n JSON objects of about PayloadSize bytes each, like
// the data of business events: ids, amounts, a date and some free text.
// They are the same on every call, so every store under test writes the
// same bytes.
func Payloads(n int) []json.RawMessage {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]json.RawMessage, n)
	currencies := []string{"EUR", "USD", "GBP", "CHF"}
	for i := range out {
		head := fmt.Sprintf(`{"accountId":"acc-%06d","amount":%d.%02d,"currency":%q,"reference":"INV-%08d","at":"2026-%02d-%02dT%02d:%02d:%02dZ","note":"`,
			r.IntN(1e6), r.IntN(10000), r.IntN(100), currencies[r.IntN(len(currencies))], r.IntN(1e8),
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		var note strings.Builder
		for len(head)+note.Len()+2 < PayloadSize {
			if note.Len() > 0 {
				note.WriteByte(' ')
			}
			note.WriteString(words[r.IntN(len(words))])
		}
		out[i] = json.RawMessage(head + note.String() + `"}`)
	}
	return out
}

// Events returns n events whose data are payloads[start], payloads[start+1],
// ... (wrapping around) and whose types cycle through EventTypes.
func Events(payloads []json.RawMessage, start, n int) []eventstore.Event {
	events := make([]eventstore.Event, n)
	for i := range events {
		k := start + i
		events[i] = eventstore.Event{Type: EventTypes[k%len(EventTypes)], Data: payloads[k%len(payloads)]}
	}
	return events
}
