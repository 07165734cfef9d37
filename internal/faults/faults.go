// Package faults injects network and service faults into the HTTP traffic of
// an AWS SDK client, for tests: wrap the client's transport with a Transport
// and decide, per request, what goes wrong.
package faults

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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
	// Slow sends the request, then holds the response for Delay.
	Slow
)

var kindNames = [...]string{"none", "reset-before-send", "lose-response", "500", "throughput-exceeded", "throttling", "slow"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

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

	mu     sync.Mutex
	counts map[Kind]int
}

// Counts returns how many faults of each kind were injected so far.
func (t *Transport) Counts() map[Kind]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[Kind]int, len(t.counts))
	for k, n := range t.counts {
		out[k] = n
	}
	return out
}

// Op returns the DynamoDB operation of a request ("" if it is not one).
func Op(req *http.Request) string {
	target := req.Header.Get("X-Amz-Target")
	return target[strings.LastIndexByte(target, '.')+1:]
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := None
	if t.Decide != nil {
		kind = t.Decide(Op(req))
	}
	if kind != None {
		t.mu.Lock()
		if t.counts == nil {
			t.counts = map[Kind]int{}
		}
		t.counts[kind]++
		t.mu.Unlock()
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
		select {
		case <-time.After(t.Delay):
		case <-req.Context().Done():
			resp.Body.Close()
			return nil, req.Context().Err()
		}
	}
	return resp, nil
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
