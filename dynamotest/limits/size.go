package limits

import (
	"encoding/base64"
	"math"
	"strings"
)

// item is an item in DynamoDB's JSON wire format: attribute name to
// attribute value ({"S": "..."}, {"N": "..."}, {"M": {...}}, ...), as
// encoding/json decodes it.
type item = map[string]any

// itemSize returns the size DynamoDB bills for it: the UTF-8 length of each
// attribute name plus the size of its value. A nil item has size 0.
func itemSize(it item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize returns the size of an attribute value: strings and binaries
// their length, numbers 1 byte per 2 significant digits plus 1, booleans
// and nulls 1, sets the sum of their elements, lists and maps 3 bytes plus
// 1 per element plus their elements (and a map's names). A malformed value
// has size 0.
func valueSize(v any) int {
	m, _ := v.(map[string]any)
	for typ, x := range m {
		switch typ {
		case "S":
			s, _ := x.(string)
			return len(s)
		case "N":
			s, _ := x.(string)
			return numberSize(s)
		case "B":
			s, _ := x.(string)
			return binarySize(s)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			n := 0
			list, _ := x.([]any)
			for _, e := range list {
				s, _ := e.(string)
				n += map[string]func(string) int{"SS": strLen, "NS": numberSize, "BS": binarySize}[typ](s)
			}
			return n
		case "L":
			list, _ := x.([]any)
			n := 3
			for _, e := range list {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			mm, _ := x.(map[string]any)
			n := 3
			for name, e := range mm {
				n += 1 + len(name) + valueSize(e)
			}
			return n
		}
	}
	return 0
}

func strLen(s string) int { return len(s) }

// numberSize is 1 byte per 2 significant digits, plus 1.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Trim(strings.Replace(s, ".", "", 1), "0")
	return (len(digits)+1)/2 + 1
}

// binarySize is the decoded length of base64 s.
func binarySize(s string) int {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return len(b)
	}
	return base64.StdEncoding.DecodedLen(len(s))
}

// writeUnits is 1 per started KB, at least 1.
func writeUnits(size int) float64 { return max(1, math.Ceil(float64(size)/1024)) }

// readUnits is 1 per started 4 KB, at least 1.
func readUnits(size int) float64 { return max(1, math.Ceil(float64(size)/4096)) }
