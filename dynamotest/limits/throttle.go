package limits

import (
	"fmt"
	"net/http"
)

const errorPrefix = "com.amazonaws.dynamodb.v20120810#"

// hotKeyMessage is what DynamoDB says when a partition key value exceeds
// its partition's limits.
const hotKeyMessage = "Throughput exceeds the current capacity of your table or index. " +
	"DynamoDB is automatically scaling your table or index so please try again shortly. " +
	"If exceptions persist, check if you have a hot key: " +
	"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"

// throttleMessage is DynamoDB's message followed by what the simulator
// throttled: the table or index, and the key value.
func (s *Simulator) throttleMessage(k bucketKey) string {
	what, units, rate := "table "+k.Table, "WCU", s.writeRate
	if k.Index != "" {
		what = fmt.Sprintf("index %s of table %s", k.Index, k.Table)
	}
	if !k.write {
		units, rate = "RCU", s.readRate
	}
	return fmt.Sprintf("%s (limits: %s, partition key value %q, %g %s/s)", hotKeyMessage, what, k.Value, rate, units)
}

// throttlingReason is DynamoDB's ThrottlingReason of a throttled key.
func throttlingReason(k bucketKey) map[string]string {
	resource, kind, op := "arn:aws:dynamodb:ddblocal:000000000000:table/"+k.Table, "Table", "Write"
	if k.Index != "" {
		resource, kind = resource+"/index/"+k.Index, "Index"
	}
	if !k.write {
		op = "Read"
	}
	return map[string]string{"reason": kind + op + "KeyRangeThroughputExceeded", "resource": resource}
}

// throttled answers req as DynamoDB does when k's partition is over its
// limit: HTTP 400, ProvisionedThroughputExceededException.
func (t *transport) throttled(req *http.Request, k bucketKey) *http.Response {
	const typ = "ProvisionedThroughputExceededException"
	return respond(req, http.StatusBadRequest, typ, map[string]any{
		"__type":            errorPrefix + typ,
		"message":           t.sim.throttleMessage(k),
		"ThrottlingReasons": []any{throttlingReason(k)},
	})
}

// canceled answers a transaction whose item i was throttled on k as
// DynamoDB does: TransactionCanceledException with a ThrottlingError reason.
func (t *transport) canceled(req *http.Request, n, i int, k bucketKey) *http.Response {
	const typ = "TransactionCanceledException"
	reasons := make([]any, n)
	codes := ""
	for j := range reasons {
		code := "None"
		reasons[j] = map[string]string{"Code": code}
		if j == i {
			code = "ThrottlingError"
			reasons[j] = map[string]string{"Code": code, "Message": t.sim.throttleMessage(k)}
		}
		if j > 0 {
			codes += ", "
		}
		codes += code
	}
	return respond(req, http.StatusBadRequest, typ, map[string]any{
		"__type":              errorPrefix + typ,
		"message":             "Transaction cancelled, please refer cancellation reasons for specific reasons [" + codes + "]",
		"CancellationReasons": reasons,
	})
}
