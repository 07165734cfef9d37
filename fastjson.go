package eventstore

import (
	"encoding/json"
	"unicode/utf8"
)

// A single-pass parser of the events wire form (decodeEvents' fast path,
// which falls back to encoding/json for anything else) and a strict JSON
// validator (validateData), each about four times faster than
// encoding/json, which dominated a commit's CPU time. Fuzz tests in
// fastjson_test.go hold both to encoding/json's answers.

const maxDepth = 10000

// validJSON reports whether b is one JSON value (RFC 8259), with optional
// whitespace around it, as json.Valid does.
func validJSON(b []byte) bool {
	i := skipWS(b, 0)
	end, ok := skipValue(b, i, 0)
	return ok && skipWS(b, end) == len(b)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue validates the value at b[i:], inside depth arrays and objects,
// and returns the index after it. Like encoding/json, it refuses more than
// maxDepth nested arrays and objects.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	if (b[i] == '{' || b[i] == '[') && depth >= maxDepth {
		return i, false
	}
	switch c := b[i]; {
	case c == '{':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipString(b, i); !ok {
				return i, false
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(b, skipWS(b, i+1), depth+1); !ok {
				return i, false
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipWS(b, i+1)
		}
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipWS(b, i+1)
		}
	case c == '"':
		return skipString(b, i)
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	}
	return i, false
}

func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

func skipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return i, false
		}
	}
	return i, true
}

// skipString validates the string at b[i:] and returns the index after it.
func skipString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return i, false
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// parseWire parses the events attribute as appendEventsJSON writes it, in
// one pass: [{"t":T,"d":D,"m":M},...] with no whitespace, keys t, d, m
// in that order. ok is false for anything else (then decodeEvents falls
// back to encoding/json, with its errors). Data aliases b.
func parseWire(b []byte) (events []Event, ok bool) {
	if len(b) < 2 || b[0] != '[' {
		return nil, false
	}
	events = make([]Event, 0, 4)
	i := 1
	for {
		if i+5 >= len(b) || string(b[i:i+5]) != `{"t":` {
			return nil, false
		}
		var e Event
		e.Type, i, ok = plainString(b, i+5)
		if !ok {
			return nil, false
		}
		if len(b)-i > 5 && string(b[i:i+5]) == `,"d":` {
			start := i + 5
			if i, ok = skipValue(b, start, 2); !ok { // inside [{
				return nil, false
			}
			e.Data = b[start:i:i]
		}
		if len(b)-i > 5 && string(b[i:i+5]) == `,"m":` {
			if e.Metadata, i, ok = plainStringMap(b, i+5); !ok {
				return nil, false
			}
		}
		if i+1 >= len(b) || b[i] != '}' {
			return nil, false
		}
		events = append(events, e)
		switch b[i+1] {
		case ',':
			i += 2
		case ']':
			return events, i+2 == len(b)
		default:
			return nil, false
		}
	}
}

// plainString reads a string without escapes, valid UTF-8, at b[i:].
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	start := i + 1
	for i = start; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			s := b[start:i]
			return string(s), i + 1, utf8.Valid(s)
		}
		if c == '\\' || c < 0x20 {
			return "", i, false
		}
	}
	return "", i, false
}

// plainStringMap reads {"k":"v",...} of plain strings at b[i:].
func plainStringMap(b []byte, i int) (map[string]string, int, bool) {
	if i >= len(b) || b[i] != '{' {
		return nil, i, false
	}
	m := map[string]string{}
	i++
	if i < len(b) && b[i] == '}' {
		return m, i + 1, true
	}
	for {
		k, j, ok := plainString(b, i)
		if !ok || j >= len(b) || b[j] != ':' {
			return nil, i, false
		}
		v, j, ok := plainString(b, j+1)
		if !ok || j >= len(b) {
			return nil, i, false
		}
		m[k] = v
		switch b[j] {
		case ',':
			i = j + 1
		case '}':
			return m, j + 1, true
		default:
			return nil, i, false
		}
	}
}

// appendQuoted appends s as a JSON string, as json.Marshal would, without
// reflection when s needs no escape.
func appendQuoted(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
