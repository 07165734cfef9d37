package faults

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server counts the requests that reach it.
func server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func request(t *testing.T, ctx context.Context, url, op string, attempt int) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	req.Header.Set("Amz-Sdk-Request", "attempt="+string(rune('0'+attempt))+"; max=3")
	return req
}

func TestKinds(t *testing.T) {
	srv, hits := server(t)
	tests := []struct {
		kind    Kind
		reaches bool // the server sees the request
		status  int  // 0: an error instead of a response
		code    string
	}{
		{None, true, 200, ""},
		{ResetBeforeSend, false, 0, ""},
		{LoseResponse, true, 0, ""},
		{InternalError, false, 500, "InternalServerError"},
		{Throttle, false, 400, "ProvisionedThroughputExceededException"},
		{ThrottlingException, false, 400, "ThrottlingException"},
		{Slow, true, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			ft := &Transport{Decide: func(string) Kind { return tt.kind }, Delay: 10 * time.Millisecond}
			before := hits.Load()
			resp, err := ft.RoundTrip(request(t, context.Background(), srv.URL, "PutItem", 1))
			if reached := hits.Load() > before; reached != tt.reaches {
				t.Errorf("server saw the request: %v, want %v", reached, tt.reaches)
			}
			if tt.status == 0 {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("RoundTrip = %v, %v; want a connection reset", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.code) {
				t.Errorf("response %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if want := map[Kind]int{}; tt.kind != None {
				want[tt.kind] = 1
				if got := ft.Counts(); got[tt.kind] != 1 || len(got) != 1 {
					t.Errorf("counts %v, want %v", got, want)
				}
			}
		})
	}
}

// Slow past the client's timeout: the server applied the request, the
// client sees a timeout; Hang never sends.
func TestSlowAndHangEndWithTheContext(t *testing.T) {
	srv, hits := server(t)
	for _, kind := range []Kind{Slow, Hang} {
		ft := &Transport{Decide: func(string) Kind { return kind }, Delay: time.Hour}
		client := &http.Client{Transport: ft, Timeout: 50 * time.Millisecond}
		before, start := hits.Load(), time.Now()
		_, err := client.Do(request(t, context.Background(), srv.URL, "Query", 1))
		var timeout interface{ Timeout() bool }
		if !errors.As(err, &timeout) || !timeout.Timeout() {
			t.Errorf("%v: %v, want a client timeout", kind, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%v held the request %v past the timeout", kind, d)
		}
		if reached, want := hits.Load() > before, kind == Slow; reached != want {
			t.Errorf("%v: server saw the request: %v, want %v", kind, reached, want)
		}
	}
}

func TestRateAndStats(t *testing.T) {
	decide := Rate(7, 0.2, nil, "PutItem")
	ft := &Transport{Decide: func(op string) Kind {
		if k := decide(op); k != Slow && k != LoseResponse {
			return k
		}
		return InternalError // keep this test off the network
	}}
	const n = 5000
	for i := range n {
		ft.RoundTrip(request(t, context.Background(), "http://127.0.0.1:1", "PutItem", 1+i%2))
	}
	for range 100 {
		if k := decide("GetItem"); k != None {
			t.Fatalf("Rate limited to PutItem injected %v into GetItem", k)
		}
	}
	st := ft.Stats()
	if got := st.Injected(); got < n*15/100 || got > n*25/100 {
		t.Errorf("injected %d faults into %d requests at rate 0.2", got, n)
	}
	for _, k := range []Kind{ResetBeforeSend, InternalError, Throttle, ThrottlingException} {
		if st.Faults[k] == 0 {
			t.Errorf("no %v among %v", k, st.Faults)
		}
	}
	if st.Total() != n || st.Requests["PutItem"] != n || st.Retries != n/2 {
		t.Errorf("stats %v, want %d requests, %d retries", st, n, n/2)
	}
	if s := st.String(); !strings.Contains(s, "PutItem 5000") || !strings.Contains(s, "throttling") {
		t.Errorf("String() = %q", s)
	}
}
