package limits

import (
	"encoding/json"
	"net/http"
)

// batchWriteItem admits each put and delete of a BatchWriteItem on its own,
// forwards those admitted and returns the others in UnprocessedItems, as
// DynamoDB does; when none is admitted, it answers
// ProvisionedThroughputExceededException.
func (t *transport) batchWriteItem(req *http.Request, body []byte) (*http.Response, error) {
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	tables, _ := in["RequestItems"].(map[string]any)
	admitted, unprocessed := map[string]any{}, map[string]any{}
	var ws []*writeOp
	var paid []charge
	var throttled *bucketKey
	for table, list := range tables {
		sch := t.schema(req, table)
		reqs, _ := list.([]any)
		for _, r := range reqs {
			w := batchWrite(sch, r)
			if w == nil {
				admitted[table] = append(asList(admitted[table]), r)
				continue
			}
			t.readOld(req, w)
			cs := w.charges()
			if k, ok := t.sim.admit(cs); !ok {
				throttled = &k
				unprocessed[table] = append(asList(unprocessed[table]), r)
				continue
			}
			admitted[table] = append(asList(admitted[table]), r)
			ws, paid = append(ws, w), append(paid, cs...)
		}
	}
	if len(admitted) == 0 && throttled != nil {
		return t.throttled(req, *throttled), nil
	}
	in["RequestItems"] = admitted
	body, _ = json.Marshal(in)
	resp, data, read, err := t.forwardPaid(req, body, paid)
	if err != nil || !read {
		return resp, err
	}
	errType := errorType(resp, data)
	t.settle(ws, paid, errType, "", req)
	if errType == "" && len(unprocessed) > 0 {
		mergeUnprocessed(resp, data, "UnprocessedItems", unprocessed)
	}
	return resp, nil
}

// batchWrite returns the writeOp of one request of a BatchWriteItem, or nil
// if it cannot be parsed or its table not described.
func batchWrite(sch *schema, r any) *writeOp {
	m, _ := r.(map[string]any)
	if sch == nil || m == nil {
		return nil
	}
	if p, ok := m["PutRequest"].(map[string]any); ok {
		it, _ := p["Item"].(map[string]any)
		return &writeOp{sch: sch, key: sch.key(it), new: it, factor: 1}
	}
	if d, ok := m["DeleteRequest"].(map[string]any); ok {
		k, _ := d["Key"].(map[string]any)
		return &writeOp{sch: sch, key: k, factor: 1}
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// mergeUnprocessed adds ours to the map field of a successful answer.
func mergeUnprocessed(resp *http.Response, data []byte, field string, ours map[string]any) {
	var out map[string]any
	if json.Unmarshal(data, &out) != nil {
		return
	}
	theirs, _ := out[field].(map[string]any)
	if theirs == nil {
		theirs = map[string]any{}
	}
	for table, v := range ours {
		switch v := v.(type) {
		case []any:
			theirs[table] = append(asList(theirs[table]), v...)
		case map[string]any: // BatchGetItem's {Keys: [...], ...}
			prev, _ := theirs[table].(map[string]any)
			if prev == nil {
				theirs[table] = v
				continue
			}
			prev["Keys"] = append(asList(prev["Keys"]), asList(v["Keys"])...)
		}
	}
	out[field] = theirs
	data, _ = json.Marshal(out)
	setBody(resp, data)
}

// transactWriteItems charges every action of a TransactWriteItems twice
// its size, admits all or none, and answers a throttled one as DynamoDB
// does: TransactionCanceledException with reason ThrottlingError.
func (t *transport) transactWriteItems(req *http.Request, body []byte) (*http.Response, error) {
	var in struct{ TransactItems []map[string]writeInput }
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	ws := make([]*writeOp, len(in.TransactItems))
	var paid []charge
	for i, action := range in.TransactItems {
		for kind, a := range action {
			sch := t.schema(req, a.TableName)
			if sch == nil {
				return t.forward(req, body)
			}
			w := &writeOp{sch: sch, key: a.Key, factor: 2, update: kind == "Update", tableOnly: kind == "ConditionCheck"}
			if kind == "Put" {
				w.key, w.new = sch.key(a.Item), a.Item
			}
			t.readOld(req, w)
			ws[i] = w
		}
		if ws[i] == nil {
			return t.forward(req, body)
		}
		paid = append(paid, ws[i].charges()...)
	}
	if k, ok := t.sim.admit(paid); !ok {
		return t.canceled(req, len(ws), actionOf(ws, k), k), nil
	}
	resp, data, read, err := t.forwardPaid(req, body, paid)
	if err != nil || !read {
		return resp, err
	}
	t.settle(ws, paid, errorType(resp, data), "TransactionCanceledException", req)
	return resp, nil
}

// actionOf returns the index of the first action charged to k.
func actionOf(ws []*writeOp, k bucketKey) int {
	for i, w := range ws {
		for _, c := range w.charges() {
			if c.bucketKey == k {
				return i
			}
		}
	}
	return 0
}
