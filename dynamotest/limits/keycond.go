package limits

import "strings"

// partitionValue returns the value a Query's key condition gives the
// partition key attribute hash: from KeyConditionExpression ("#pk = :v" or
// "pk = :v", either way round, with names and values resolved), or from the
// legacy KeyConditions.
func (in *readInput) partitionValue(hash string) (any, bool) {
	if c, ok := in.KeyConditions[hash]; ok && len(c.AttributeValueList) == 1 {
		return c.AttributeValueList[0], true
	}
	toks := tokens(in.KeyConditionExpression)
	for i := 1; i+1 < len(toks); i++ {
		if toks[i] != "=" {
			continue
		}
		for _, p := range [][2]string{{toks[i-1], toks[i+1]}, {toks[i+1], toks[i-1]}} {
			if in.name(p[0]) == hash && strings.HasPrefix(p[1], ":") {
				v, ok := in.ExpressionAttributeValues[p[1]]
				return v, ok
			}
		}
	}
	return nil, false
}

// name resolves an expression attribute name placeholder.
func (in *readInput) name(tok string) string {
	if strings.HasPrefix(tok, "#") {
		return in.ExpressionAttributeNames[tok]
	}
	return tok
}

// tokens splits a key condition expression into names, placeholders,
// comparison operators and punctuation.
func tokens(expr string) []string {
	var out []string
	for i := 0; i < len(expr); {
		c := expr[i]
		j := i + 1
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case strings.IndexByte("<>=", c) >= 0:
			for j < len(expr) && strings.IndexByte("<>=", expr[j]) >= 0 {
				j++
			}
		case strings.IndexByte("(),", c) >= 0:
		default:
			for j < len(expr) && strings.IndexByte(" \t\n\r<>=(),", expr[j]) < 0 {
				j++
			}
		}
		out = append(out, expr[i:j])
		i = j
	}
	return out
}
