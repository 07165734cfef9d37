package limits

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// transport is the RoundTripper of a Simulator.
type transport struct {
	sim  *Simulator
	base http.RoundTripper
}

// handler serves one DynamoDB operation: body is the request's JSON.
type handler func(t *transport, req *http.Request, body []byte) (*http.Response, error)

var handlers = map[string]handler{
	"PutItem":            (*transport).putItem,
	"UpdateItem":         (*transport).updateItem,
	"DeleteItem":         (*transport).deleteItem,
	"BatchWriteItem":     (*transport).batchWriteItem,
	"TransactWriteItems": (*transport).transactWriteItems,
	"GetItem":            (*transport).getItem,
	"Query":              (*transport).query,
	"Scan":               (*transport).scan,
	"BatchGetItem":       (*transport).batchGetItem,
	"TransactGetItems":   (*transport).transactGetItems,
}

// RoundTrip charges a DynamoDB data-plane request, answers it throttled or
// forwards it, and filters index reads by the lag model. Other requests,
// and requests it cannot parse, pass through.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	target := req.Header.Get("X-Amz-Target")
	h := handlers[target[strings.LastIndexByte(target, '.')+1:]]
	if h == nil || req.Body == nil {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("limits: read request: %w", err)
	}
	return h(t, req, body)
}

// forward sends body with req's URL and headers to the backend.
func (t *transport) forward(req *http.Request, body []byte) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return t.base.RoundTrip(r)
}

// call sends operation op with input in, uncharged, with orig's URL and
// headers, and decodes a 200 answer into out.
func (t *transport) call(orig *http.Request, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	r := orig.Clone(orig.Context())
	r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	resp, err := t.forward(r, body)
	if err != nil {
		return err
	}
	data, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("limits: %s: %s: %s", op, resp.Status, data)
	}
	return json.Unmarshal(data, out)
}

// getOld returns the stored item with key, read consistently and uncharged;
// nil if there is none or it cannot be read.
func (t *transport) getOld(orig *http.Request, table string, key item) item {
	var out struct{ Item item }
	if t.call(orig, "GetItem", map[string]any{"TableName": table, "Key": key, "ConsistentRead": true}, &out) != nil {
		return nil
	}
	return out.Item
}

// readBody reads resp's body and puts it back, readable again.
func readBody(resp *http.Response) ([]byte, error) {
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return data, err
}

// setBody replaces resp's body, with its length and CRC32 header.
func setBody(resp *http.Response, data []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(data)), 10))
}

// errorType returns the short __type of an error answer: "" for a 200.
func errorType(resp *http.Response, data []byte) string {
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var e struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(data, &e)
	if e.Type == "" {
		return "Unknown"
	}
	return e.Type[strings.LastIndexByte(e.Type, '#')+1:]
}

// respond makes an answer of the simulator itself.
func respond(req *http.Request, status int, errType string, v any) *http.Response {
	data, _ := json.Marshal(v)
	resp := &http.Response{
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode: status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"limits-simulator"}},
		Request: req,
	}
	if errType != "" {
		resp.Header.Set("X-Amzn-Errortype", errType)
	}
	setBody(resp, data)
	return resp
}
