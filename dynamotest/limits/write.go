package limits

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
)

// writeOp is one item written: its images before and after.
type writeOp struct {
	sch       *schema
	key       item
	old, new  item    // new is nil for a delete, an estimate for an update before it runs
	factor    float64 // 2 in a transaction
	tableOnly bool    // a ConditionCheck: no index is written
	update    bool    // an UpdateItem: new is known once it ran
	fresh     bool    // a put only where no item is: old is not read before, nil if it lands
}

// charges returns the write units of w: the table's, from the larger image,
// and each index's the item leaves or lands in.
func (w *writeOp) charges() []charge {
	s := w.sch
	tk := bucketKey{Key{s.table, "", keyValue(w.key[s.hash])}, true}
	cs := []charge{{tk, w.factor * writeUnits(max(itemSize(w.old), itemSize(w.new)))}}
	if w.tableOnly {
		return cs
	}
	for i := range s.indexes {
		cs = append(cs, w.indexCharges(&s.indexes[i], tk)...)
	}
	return cs
}

// indexCharges returns the writes of ix: a put where the item lands, a
// delete where it leaves, both where its index key changes, one write where
// only its projected image changes. A local index's writes are charged to
// the table's partition, tk.
func (w *writeOp) indexCharges(ix *index, tk bucketKey) []charge {
	bk := func(it item) bucketKey {
		if !ix.global {
			return tk
		}
		return bucketKey{Key{w.sch.table, ix.name, keyValue(it[ix.hash])}, true}
	}
	in, out := ix.lands(w.new), ix.lands(w.old)
	po, pn := ix.project(w.sch, w.old), ix.project(w.sch, w.new)
	var cs []charge
	switch {
	case in && out && ix.indexKey(w.old) == ix.indexKey(w.new):
		if !reflect.DeepEqual(po, pn) {
			cs = append(cs, charge{bk(w.new), writeUnits(max(itemSize(po), itemSize(pn)))})
		}
	default:
		if out {
			cs = append(cs, charge{bk(w.old), writeUnits(itemSize(po))})
		}
		if in {
			cs = append(cs, charge{bk(w.new), writeUnits(itemSize(pn))})
		}
	}
	for i := range cs {
		cs[i].units *= w.factor
	}
	return cs
}

// tableCharges keeps the charges of the table's buckets: what a write whose
// condition failed still pays.
func tableCharges(cs []charge) []charge {
	var out []charge
	for _, c := range cs {
		if c.Index == "" {
			out = append(out, c)
		}
	}
	return out
}

// net returns the charges that turn paid into want.
func net(want, paid []charge) []charge {
	sum := map[bucketKey]float64{}
	for _, c := range want {
		sum[c.bucketKey] += c.units
	}
	for _, c := range paid {
		sum[c.bucketKey] -= c.units
	}
	out := make([]charge, 0, len(sum))
	for k, u := range sum {
		out = append(out, charge{k, u})
	}
	return out
}

// writeInput is the part of a single-item write request the simulator
// reads.
type writeInput struct {
	TableName                string
	Item                     item
	Key                      item
	ConditionExpression      string
	ExpressionAttributeNames map[string]string
}

// keyMustBeFree reports whether cond, with names, is attribute_not_exists
// on a key attribute of sch and nothing else: a put it admits lands where
// no item is, so the put pays the new item's size and its old image need
// not be read first.
func keyMustBeFree(sch *schema, cond string, names map[string]string) bool {
	cond = strings.TrimSpace(cond)
	for strings.HasPrefix(cond, "(") && strings.HasSuffix(cond, ")") {
		cond = strings.TrimSpace(cond[1 : len(cond)-1])
	}
	arg, ok := strings.CutPrefix(cond, "attribute_not_exists")
	if !ok {
		return false
	}
	arg = strings.TrimSpace(arg)
	if !strings.HasPrefix(arg, "(") || !strings.HasSuffix(arg, ")") {
		return false
	}
	arg = strings.TrimSpace(arg[1 : len(arg)-1])
	if strings.ContainsAny(arg, "() \t\n,") {
		return false
	}
	if name, ok := names[arg]; ok {
		arg = name
	} else if strings.HasPrefix(arg, "#") {
		return false
	}
	return arg == sch.hash || (sch.rng != "" && arg == sch.rng)
}

func (t *transport) putItem(req *http.Request, body []byte) (*http.Response, error) {
	return t.singleWrite(req, body, func(in *writeInput, w *writeOp) {
		w.key, w.new = w.sch.key(in.Item), in.Item
		w.fresh = keyMustBeFree(w.sch, in.ConditionExpression, in.ExpressionAttributeNames)
	})
}

func (t *transport) updateItem(req *http.Request, body []byte) (*http.Response, error) {
	return t.singleWrite(req, body, func(in *writeInput, w *writeOp) { w.key, w.update = in.Key, true })
}

func (t *transport) deleteItem(req *http.Request, body []byte) (*http.Response, error) {
	return t.singleWrite(req, body, func(in *writeInput, w *writeOp) { w.key = in.Key })
}

// singleWrite charges a PutItem, UpdateItem or DeleteItem before forwarding
// it, and settles the charge by its outcome. An update's new image is read
// after it succeeds, and the difference from the estimate (its old image)
// charged then.
func (t *transport) singleWrite(req *http.Request, body []byte, set func(*writeInput, *writeOp)) (*http.Response, error) {
	var in writeInput
	if json.Unmarshal(body, &in) != nil {
		return t.forward(req, body)
	}
	sch := t.schema(req, in.TableName)
	if sch == nil {
		return t.forward(req, body)
	}
	w := &writeOp{sch: sch, factor: 1}
	set(&in, w)
	if len(w.key) == 0 {
		return t.forward(req, body)
	}
	if !w.fresh {
		t.readOld(req, w)
	}
	paid := w.charges()
	if k, ok := t.sim.admit(paid); !ok {
		return t.throttled(req, k), nil
	}
	resp, data, read, err := t.forwardPaid(req, body, paid)
	if err != nil || !read {
		return resp, err
	}
	errType := errorType(resp, data)
	if w.fresh && errType == "ConditionalCheckFailedException" {
		t.settleFresh(req, w, paid, data)
		return resp, nil
	}
	t.settle([]*writeOp{w}, paid, errType, "ConditionalCheckFailedException", req)
	return resp, nil
}

// settleFresh settles a put whose key had to be free and was not: it paid
// the new item's size, and pays the larger of the two images' table units,
// like any failed condition. The stored item is the one the answer returns
// (ReturnValuesOnConditionCheckFailure ALL_OLD), or else read now; the
// index writes, which did not happen, are given back.
func (t *transport) settleFresh(req *http.Request, w *writeOp, paid []charge, data []byte) {
	var failed struct{ Item item }
	json.Unmarshal(data, &failed)
	w.old = failed.Item
	if w.old == nil {
		w.old = t.getOld(req, w.sch.table, w.key)
	}
	t.sim.pay(net(tableCharges(w.charges()), paid))
}

// readOld reads w's old image, and for an update or a condition check
// takes it as the estimate of the new one (the key alone if there is no
// item).
func (t *transport) readOld(req *http.Request, w *writeOp) {
	w.old = t.getOld(req, w.sch.table, w.key)
	if w.update || w.tableOnly {
		w.new = w.old
		if w.new == nil {
			w.new = w.key
		}
	}
}

// settle adjusts the charges paid for ws by the server's answer errType:
// on success, re-reads updated items and charges the difference, and
// starts their index lag; on condFailed, gives back the index writes that
// did not happen; on any other error, gives back everything.
// forwardPaid forwards a write whose units were paid in advance, and reads
// its answer: a request that fails gives the units back (nil response);
// an answer that cannot be read is returned as it is, read false.
func (t *transport) forwardPaid(req *http.Request, body []byte, paid []charge) (resp *http.Response, data []byte, read bool, err error) {
	if resp, err = t.forward(req, body); err != nil {
		t.sim.pay(negate(paid))
		return nil, nil, false, err
	}
	if data, err = readBody(resp); err != nil {
		return resp, nil, false, nil
	}
	return resp, data, true, nil
}

func (t *transport) settle(ws []*writeOp, paid []charge, errType, condFailed string, req *http.Request) {
	switch errType {
	case "":
		var want []charge
		for _, w := range ws {
			if w.update {
				w.new = t.getOld(req, w.sch.table, w.key)
			}
			want = append(want, w.charges()...)
		}
		t.sim.pay(net(want, paid))
		for _, w := range ws {
			t.sim.recordLag(w)
		}
	case condFailed:
		t.sim.pay(net(tableCharges(paid), paid))
	default:
		t.sim.pay(negate(paid))
	}
}
