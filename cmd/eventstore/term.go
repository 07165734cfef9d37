package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The strings of a table (aggregate ids, event types, metadata, data, blob
// keys) are anyone's who can write to it, and the human output goes to an
// operator's terminal, where a control character starts an escape
// sequence: it can retitle the window, rewrite the screen or hide text
// behind a bidi override. So the human output shows such characters
// escaped, as Go does (\x1b, \u202e); JSON output escapes them as JSON.

// printable reports whether s is valid UTF-8 of printable runes only
// (strconv.IsPrint: letters, marks, numbers, punctuation, symbols, ASCII
// space).
func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false // RuneError: an invalid byte, or U+FFFD itself
		}
	}
	return true
}

// field is s as a field of human output: as it is when printable, else
// Go-quoted, so that the quotes tell an escape from the text "\x1b".
func field(s string) string {
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// escaped is a line of text (a message) with each rune that is not
// printable, and each invalid byte, escaped as Go would quote it.
func escaped(s string) string {
	if printable(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case strconv.IsPrint(r):
			b.WriteString(s[:size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[size:]
	}
	return b.String()
}
