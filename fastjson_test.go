package eventstore

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func FuzzValidJSON(f *testing.F) {
	f.Add([]byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000)))
	f.Add([]byte(strings.Repeat("[", 10001) + strings.Repeat("]", 10001)))
	for _, s := range []string{`{"a":[1,2.5e-3,-0,true,false,null,"x\u00e9\n"]}`, ` 1 `, `01`, `"\x01"`, `[1,]`, `{"a" 1}`, `-`, `1.`, `1e`, `"\ud800"`, `[[[[]]]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid = %v", b, got, want)
		}
	})
}

func FuzzParseWire(f *testing.F) {
	for _, s := range []string{`[{"t":"a","d":{"x":1},"m":{"k":"v"}}]`, `[{"t":"a"},{"t":"b","d":[1,"2"]}]`, `[{"t":"é","d":"\u0041"}]`, `[{"t":"a","m":{}}]`, `[{"t":"a","d":1}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := parseWire(append([]byte(nil), b...))
		if !ok {
			return
		}
		var wire []wireEvent
		if err := json.Unmarshal(b, &wire); err != nil {
			t.Fatalf("parseWire accepted %q, json.Unmarshal: %v", b, err)
		}
		slow := make([]Event, len(wire))
		for i, w := range wire {
			slow[i] = Event(w)
			if slow[i].Metadata == nil && fast[i].Metadata != nil && len(fast[i].Metadata) == 0 {
				slow[i].Metadata = map[string]string{}
			}
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Fatalf("%q: (-json +fast)\n%s", b, d)
		}
	})
}
