// Package faults injects network and service faults into the HTTP traffic of
// an AWS SDK client, for tests: wrap the client's transport with a Transport
// and decide, per request, what goes wrong (Once for one fault, Rate for a
// fraction of all requests). Stats counts requests, the SDK's retries and
// the faults injected, by kind.
package faults

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is one way a request can fail.
type Kind int

// The faults a Transport injects.
const (
	None Kind = iota
	// ResetBeforeSend fails the request with a connection reset; the server
	// never sees it.
	ResetBeforeSend
	// LoseResponse lets the server apply the request, then fails with a
	// connection reset: the client cannot know the outcome.
	LoseResponse
	// InternalError answers 500 InternalServerError without sending.
	InternalError
	// Throttle answers 400 ProvisionedThroughputExceededException without
	// sending.
	Throttle
	// ThrottlingException answers 400 ThrottlingException without sending.
	ThrottlingException
	// Slow sends the request, then holds the response for Delay or until
	// the request's context ends (a client timeout shorter than Delay):
	// the server applied the request, the client saw a timeout.
	Slow
	// Hang holds the request without sending it until its context ends.
	Hang
)

var kindNames = [...]string{"none", "reset-before-send", "lose-response", "500", "throughput-exceeded", "throttling", "slow", "hang"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Injectable lists the kinds a Rate decider draws from by default: every
// kind that ends (Hang waits for the caller to cancel).
var Injectable = []Kind{ResetBeforeSend, LoseResponse, InternalError, Throttle, ThrottlingException, Slow}

// Transport is an http.RoundTripper that injects the fault Decide picks for
// each request. It is safe for concurrent use.
type Transport struct {
	// Base sends requests; default http.DefaultTransport.
	Base http.RoundTripper
	// Decide picks the fault of a request to DynamoDB operation op (the
	// X-Amz-Target suffix, e.g. "PutItem"). Nil injects nothing.
	Decide func(op string) Kind
	// Delay is how long Slow holds a response.
	Delay time.Duration
	// Observe, if set, is told of every request and the fault picked for
	// it (None included) before the fault is injected: a hook for tests
	// that attribute faults to the calls that met them (req.Context()).
	Observe func(req *http.Request, kind Kind)

	mu       sync.Mutex
	counts   map[Kind]int
	requests map[string]int
	retries  int
}

// Stats is what a Transport saw.
type Stats struct {
	// Requests counts the HTTP requests (attempts) per operation.
	Requests map[string]int
	// Retries counts the requests the SDK sent as a retry (an
	// amz-sdk-request header with attempt > 1).
	Retries int
	// Faults counts the injected faults per kind.
	Faults map[Kind]int
}

// Total is the number of requests of every operation.
func (s Stats) Total() int {
	n := 0
	for _, v := range s.Requests {
		n += v
	}
	return n
}

// Injected is the number of faults of every kind.
func (s Stats) Injected() int {
	n := 0
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// String lists the counts on one line, kinds in declaration order.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d (", s.Total())
	for i, op := range slices.Sorted(maps.Keys(s.Requests)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", op, s.Requests[op])
	}
	fmt.Fprintf(&b, "), SDK retries %d, faults %d:", s.Retries, s.Injected())
	for _, k := range slices.Sorted(maps.Keys(s.Faults)) {
		fmt.Fprintf(&b, " %s %d", k, s.Faults[k])
	}
	return b.String()
}

// Counts returns how many faults of each kind were injected so far.
func (t *Transport) Counts() map[Kind]int {
	return t.Stats().Faults
}

// Stats returns the counts so far.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Requests: maps.Clone(t.requests), Retries: t.retries, Faults: maps.Clone(t.counts)}
}

// Op returns the DynamoDB operation of a request ("" if it is not one).
func Op(req *http.Request) string {
	target := req.Header.Get("X-Amz-Target")
	return target[strings.LastIndexByte(target, '.')+1:]
}

// Attempt returns the SDK's attempt number of a request (1 for the first,
// 0 when the request does not say).
func Attempt(req *http.Request) int {
	for _, field := range strings.Split(req.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(field), "attempt="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := Op(req)
	kind := None
	if t.Decide != nil {
		kind = t.Decide(op)
	}
	t.count(op, Attempt(req), kind)
	if t.Observe != nil {
		t.Observe(req, kind)
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	switch kind {
	case ResetBeforeSend:
		return nil, reset()
	case InternalError:
		return answer(req, http.StatusInternalServerError, "InternalServerError", "injected"), nil
	case Throttle:
		return answer(req, http.StatusBadRequest, "ProvisionedThroughputExceededException", "injected"), nil
	case ThrottlingException:
		return answer(req, http.StatusBadRequest, "ThrottlingException", "injected"), nil
	case Hang:
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch kind {
	case LoseResponse:
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, reset()
	case Slow:
		timer := time.NewTimer(t.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-req.Context().Done():
			resp.Body.Close()
			return nil, req.Context().Err()
		}
	}
	return resp, nil
}

func (t *Transport) count(op string, attempt int, kind Kind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.requests == nil {
		t.requests, t.counts = map[string]int{}, map[Kind]int{}
	}
	t.requests[op]++
	if attempt > 1 {
		t.retries++
	}
	if kind != None {
		t.counts[kind]++
	}
}

func reset() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// answer is a DynamoDB-shaped error response.
func answer(req *http.Request, status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, code, msg)
	return &http.Response{
		Status:        http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:          io.NopCloser(bytes.NewReader([]byte(body))),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// Once returns a Decide that injects kind into the first request to op and
// into nothing else.
func Once(op string, kind Kind) func(string) Kind {
	var once sync.Once
	return func(got string) Kind {
		k := None
		if got == op {
			once.Do(func() { k = kind })
		}
		return k
	}
}

// Rate returns a Decide that injects a fault into each request to one of
// ops (to every operation when ops is empty) with probability rate, of a
// kind drawn uniformly from kinds (Injectable when kinds is empty). Its
// draws come from a generator seeded with seed, so a run's sequence of
// decisions is reproducible up to the order in which concurrent requests
// arrive. It is safe for concurrent use.
func Rate(seed uint64, rate float64, kinds []Kind, ops ...string) func(string) Kind {
	if len(kinds) == 0 {
		kinds = Injectable
	}
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(op string) Kind {
		if len(ops) > 0 && !slices.Contains(ops, op) {
			return None
		}
		mu.Lock()
		defer mu.Unlock()
		if r.Float64() >= rate {
			return None
		}
		return kinds[r.IntN(len(kinds))]
	}
}
