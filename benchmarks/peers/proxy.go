package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dynacommit/eventstore/internal/cpu"
)

// proxy stands between every store under test and DynamoDB Local in the
// counting run, and takes the phase notices of every run. It
// counts requests, asks DynamoDB for the consumed capacity of each
// (ReturnConsumedCapacity INDEXES, added to the request: DynamoDB Local does
// not check signatures) and adds it up per phase. A runner names the phase
// it starts with POST /_bench/phase (body: the name; empty: none), when no
// request of the previous phase is in flight.
type proxy struct {
	target string
	client *http.Client
	tables *tables

	// serverCPU, if set, returns the CPU seconds DynamoDB Local has used.
	serverCPU func() float64

	mu    sync.Mutex
	phase string
	mark  struct{ server, machine, driver float64 } // CPU seconds when the phase began
	stats map[string]*usage
}

// usage is what the proxy counted in one phase.
type usage struct {
	Requests   int
	Ops        map[string]int
	WCU, RCU   float64 // as AWS bills them (see capacity.go)
	LocalWCU   float64 // as DynamoDB Local reports them
	Items      int     // items returned by reads
	Errors     map[string]int
	Mismatches int     // PutItems whose computed units differ from DynamoDB Local's
	ServerCPU  float64 // CPU seconds DynamoDB Local used in the phase
	MachineCPU float64 // busy CPU seconds of the machine in the phase
	DriverCPU  float64 // CPU seconds of this program in the phase
}

// counted sets the counts of u (requests, capacity, items, errors) to
// those of c, a counting run's, and keeps the CPU times.
func (u *usage) counted(c usage) {
	c.ServerCPU, c.MachineCPU, c.DriverCPU = u.ServerCPU, u.MachineCPU, u.DriverCPU
	*u = c
}

// otherCPU is the CPU seconds spent in a phase by processes other than
// DynamoDB Local, this program and the store's, which used storeCPU.
func (u usage) otherCPU(storeCPU float64) float64 {
	if u.MachineCPU == 0 {
		return 0
	}
	return max(0, u.MachineCPU-u.ServerCPU-u.DriverCPU-storeCPU)
}

func newProxy(target string, t *tables) *proxy {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 256
	return &proxy{target: target, tables: t, client: &http.Client{Transport: transport}, stats: map[string]*usage{}}
}

// take returns and forgets what was counted in phase.
func (p *proxy) take(phase string) usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.stats[phase]
	delete(p.stats, phase)
	if u == nil {
		return usage{}
	}
	return *u
}

func (p *proxy) setPhase(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.stat(p.phase)
	if p.serverCPU != nil {
		now := p.serverCPU()
		u.ServerCPU += now - p.mark.server
		p.mark.server = now
	}
	machine, driver := cpu.Machine(), cpu.Self()
	u.MachineCPU += machine - p.mark.machine
	u.DriverCPU += driver - p.mark.driver
	p.mark.machine, p.mark.driver = machine, driver
	p.phase = name
}

// stat returns the usage of a phase; p.mu must be held.
func (p *proxy) stat(phase string) *usage {
	u := p.stats[phase]
	if u == nil {
		u = &usage{Ops: map[string]int{}, Errors: map[string]int{}}
		p.stats[phase] = u
	}
	return u
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/_bench/phase" {
		p.setPhase(string(body))
		return
	}
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	body, writeUnits, err := p.prepare(r.Context(), op, body)
	if err != nil {
		http.Error(w, "bench proxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	req.Header.Del("Content-Length")
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// Count before answering: once answered, the runner may start the next
	// phase.
	p.count(op, resp.StatusCode, out, writeUnits)
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// metered are the operations that take ReturnConsumedCapacity.
var metered = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true,
	"GetItem": true, "Query": true, "Scan": true, "BatchGetItem": true, "TransactGetItems": true,
}

var writes = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}

// prepare adds ReturnConsumedCapacity to a metered request and computes
// the write units of a PutItem or of a transaction of Puts (-1 otherwise).
func (p *proxy) prepare(ctx context.Context, op string, body []byte) ([]byte, float64, error) {
	if !metered[op] {
		return body, -1, nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	in["ReturnConsumedCapacity"] = json.RawMessage(`"INDEXES"`)
	units, err := p.writeCost(ctx, op, in)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", op, err)
	}
	body, err = json.Marshal(in)
	return body, units, err
}

type put struct {
	TableName string
	Item      map[string]attr
}

func (p *proxy) writeCost(ctx context.Context, op string, in map[string]json.RawMessage) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var puts []put
	switch op {
	case "PutItem":
		var one put
		if err := json.Unmarshal(mustMarshal(in), &one); err != nil {
			return 0, err
		}
		puts = append(puts, one)
	case "TransactWriteItems":
		var tx struct{ TransactItems []struct{ Put *put } }
		if err := json.Unmarshal(mustMarshal(in), &tx); err != nil {
			return 0, err
		}
		for _, ti := range tx.TransactItems {
			if ti.Put == nil {
				return -1, nil // not a transaction of Puts: not computed
			}
			puts = append(puts, *ti.Put)
		}
	default:
		return -1, nil
	}
	total := 0.0
	for _, pt := range puts {
		t, err := p.tables.get(ctx, pt.TableName)
		if err != nil {
			return 0, err
		}
		units, err := t.writeCost(pt.Item, op == "TransactWriteItems")
		if err != nil {
			return 0, err
		}
		total += units
	}
	return total, nil
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

type consumed struct{ CapacityUnits float64 }

// count adds one answered request to the current phase.
func (p *proxy) count(op string, status int, body []byte, computed float64) {
	var out struct {
		ConsumedCapacity json.RawMessage
		Count            int
		Type             string `json:"__type"`
	}
	json.Unmarshal(body, &out)
	local := 0.0
	if len(out.ConsumedCapacity) > 0 {
		var one consumed
		var many []consumed
		if json.Unmarshal(out.ConsumedCapacity, &one) == nil {
			local = one.CapacityUnits
		} else if json.Unmarshal(out.ConsumedCapacity, &many) == nil {
			for _, c := range many {
				local += c.CapacityUnits
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.stat(p.phase)
	u.Requests++
	u.Ops[op]++
	if status != http.StatusOK {
		u.Errors[out.Type[strings.LastIndexByte(out.Type, '#')+1:]]++
		return
	}
	switch {
	case writes[op]:
		u.LocalWCU += local
		switch {
		case op == "TransactWriteItems" && computed >= 0:
			u.WCU += computed
		default:
			u.WCU += local
			if op == "PutItem" && computed != local {
				u.Mismatches++
			}
		}
	default:
		u.RCU += local
		u.Items += out.Count
	}
}
