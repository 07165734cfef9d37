package limits

import (
	"encoding/json"
	"net/http"
)

// readKey is the read bucket of partition key value v of a table or index.
func readKey(table, index string, v any) bucketKey {
	return bucketKey{Key{table, index, keyValue(v)}, false}
}

// consistency is the units a read pays per 4 KB: 1 strongly consistent,
// 0.5 eventually consistent.
func consistency(consistent bool) float64 {
	if consistent {
		return 1
	}
	return 0.5
}

// readInput is the part of a read request the simulator reads.
type readInput struct {
	TableName                 string
	IndexName                 string
	Key                       item
	ConsistentRead            bool
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues item
	KeyConditions             map[string]struct{ AttributeValueList []any }
}

// readRequest decodes a single-table read and learns its table's schema;
// a nil schema when either fails (the request is then forwarded as it is).
func (t *transport) readRequest(req *http.Request, body []byte) (readInput, *schema) {
	var in readInput
	if json.Unmarshal(body, &in) != nil {
		return in, nil
	}
	return in, t.schema(req, in.TableName)
}

// getItem refuses a GetItem whose key's read bucket is in debt, and charges
// the size of the item returned.
func (t *transport) getItem(req *http.Request, body []byte) (*http.Response, error) {
	in, sch := t.readRequest(req, body)
	if sch == nil {
		return t.forward(req, body)
	}
	k := readKey(sch.table, "", in.Key[sch.hash])
	return t.read(req, body, k, func(data []byte) ([]byte, float64) {
		var out struct{ Item item }
		json.Unmarshal(data, &out)
		return nil, consistency(in.ConsistentRead) * readUnits(itemSize(out.Item))
	})
}

// query refuses a Query whose partition key's read bucket (of the table or
// the index queried) is in debt, hides the index items still in their lag,
// and charges the size of the items returned, per 4 KB of their sum. Index
// queries of a global index are eventually consistent.
func (t *transport) query(req *http.Request, body []byte) (*http.Response, error) {
	in, sch := t.readRequest(req, body)
	if sch == nil {
		return t.forward(req, body)
	}
	hash, ix := sch.hash, sch.index(in.IndexName)
	if ix != nil {
		hash = ix.hash
	}
	v, ok := in.partitionValue(hash)
	if !ok {
		return t.forward(req, body)
	}
	k := readKey(sch.table, in.IndexName, v)
	if ix != nil && !ix.global {
		k.Index = "" // a local index lives in the table's partition
	}
	consistent := in.ConsistentRead && (ix == nil || !ix.global)
	return t.read(req, body, k, func(data []byte) ([]byte, float64) {
		newData := t.hideLagged(sch, ix, data)
		if newData != nil {
			data = newData
		}
		var out struct{ Items []item }
		json.Unmarshal(data, &out)
		size := 0
		for _, it := range out.Items {
			size += itemSize(it)
		}
		return newData, consistency(consistent) * readUnits(size)
	})
}

// scan is not charged (it reads every partition), but hides the global
// index items still in their lag.
func (t *transport) scan(req *http.Request, body []byte) (*http.Response, error) {
	var in readInput
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	resp, err := t.forward(req, body)
	sch := t.schema(req, in.TableName)
	if err != nil || sch == nil || sch.index(in.IndexName) == nil {
		return resp, err
	}
	data, err := readBody(resp)
	if err == nil && resp.StatusCode == http.StatusOK {
		if d := t.hideLagged(sch, sch.index(in.IndexName), data); d != nil {
			setBody(resp, d)
		}
	}
	return resp, nil
}

// read refuses the request when bucket k is in debt, else forwards it and
// charges k what units returns for a successful answer; units may also
// return a new body.
func (t *transport) read(req *http.Request, body []byte, k bucketKey, units func([]byte) ([]byte, float64)) (*http.Response, error) {
	if _, ok := t.sim.admit([]charge{{k, 0}}); !ok {
		return t.throttled(req, k), nil
	}
	resp, err := t.forward(req, body)
	if err != nil {
		return nil, err
	}
	data, err := readBody(resp)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	newData, u := units(data)
	if newData != nil {
		setBody(resp, newData)
	}
	t.sim.pay([]charge{{k, u}})
	return resp, nil
}

// batchGetItem returns in UnprocessedKeys the keys whose read bucket is in
// debt, as DynamoDB does, forwards the others, and charges each item its
// size per 4 KB (a key not found, the minimum).
func (t *transport) batchGetItem(req *http.Request, body []byte) (*http.Response, error) {
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	tables, _ := in["RequestItems"].(map[string]any)
	admitted, unprocessed := map[string]any{}, map[string]any{}
	keys := map[string]charge{} // table and base key to bucket and units per 4 KB
	var throttled *bucketKey
	for table, v := range tables {
		spec, _ := v.(map[string]any)
		sch := t.schema(req, table)
		if sch == nil || spec == nil {
			admitted[table] = v
			continue
		}
		consistent, _ := spec["ConsistentRead"].(bool)
		var ok, refused []any
		for _, key := range asList(spec["Keys"]) {
			kit, _ := key.(map[string]any)
			k := readKey(table, "", kit[sch.hash])
			if _, admit := t.sim.admit([]charge{{k, 0}}); !admit {
				throttled, refused = &k, append(refused, key)
				continue
			}
			ok = append(ok, key)
			keys[table+"\x00"+sch.keyString(kit)] = charge{k, consistency(consistent)}
		}
		if ok != nil {
			admitted[table] = withKeys(spec, ok)
		}
		if refused != nil {
			unprocessed[table] = withKeys(spec, refused)
		}
	}
	if len(admitted) == 0 && throttled != nil {
		return t.throttled(req, *throttled), nil
	}
	in["RequestItems"] = admitted
	body, _ = json.Marshal(in)
	resp, err := t.forward(req, body)
	if err != nil {
		return nil, err
	}
	data, err := readBody(resp)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	t.sim.pay(t.batchGetCharges(req, data, keys))
	if len(unprocessed) > 0 {
		mergeUnprocessed(resp, data, "UnprocessedKeys", unprocessed)
	}
	return resp, nil
}

// batchGetCharges charges the items of a BatchGetItem answer, and the
// minimum for every admitted key not returned (keys holds, per table and
// base key, the bucket and the units per 4 KB).
func (t *transport) batchGetCharges(req *http.Request, data []byte, keys map[string]charge) []charge {
	var out struct{ Responses map[string][]item }
	json.Unmarshal(data, &out)
	sizes := map[string]int{}
	var cs []charge
	for table, items := range out.Responses {
		sch := t.schema(req, table)
		if sch == nil {
			continue
		}
		for _, it := range items {
			sizes[table+"\x00"+sch.keyString(it)] += itemSize(it)
		}
	}
	for tk, c := range keys {
		cs = append(cs, charge{c.bucketKey, c.units * readUnits(sizes[tk])})
	}
	return cs
}

// transactGetItems refuses a TransactGetItems if one of its keys' read
// buckets is in debt (TransactionCanceledException, ThrottlingError), and
// charges each item twice its size per 4 KB.
func (t *transport) transactGetItems(req *http.Request, body []byte) (*http.Response, error) {
	var in struct{ TransactItems []struct{ Get readInput } }
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	ks := make([]bucketKey, len(in.TransactItems))
	for i, g := range in.TransactItems {
		sch := t.schema(req, g.Get.TableName)
		if sch == nil {
			return t.forward(req, body)
		}
		ks[i] = readKey(sch.table, "", g.Get.Key[sch.hash])
		if _, ok := t.sim.admit([]charge{{ks[i], 0}}); !ok {
			return t.canceled(req, len(ks), i, ks[i]), nil
		}
	}
	resp, err := t.forward(req, body)
	if err != nil {
		return nil, err
	}
	data, err := readBody(resp)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var out struct{ Responses []struct{ Item item } }
	json.Unmarshal(data, &out)
	cs := make([]charge, len(ks))
	for i, k := range ks {
		size := 0
		if i < len(out.Responses) {
			size = itemSize(out.Responses[i].Item)
		}
		cs[i] = charge{k, 2 * readUnits(size)}
	}
	t.sim.pay(cs)
	return resp, nil
}

// withKeys returns a copy of a BatchGetItem table spec with keys.
func withKeys(spec map[string]any, keys []any) map[string]any {
	c := make(map[string]any, len(spec))
	for k, v := range spec {
		c[k] = v
	}
	c["Keys"] = keys
	return c
}
