package renderer

import (
	"slices"
	"strconv"
	"strings"
)

// The emitter: the fast path of printing a generated object.
//
// yaml.v3's encoder queues an event of about 250 bytes per scalar and
// keeps the queue for the whole document: printing the routes and aliases
// of 5 000 Deployment+Service pairs allocated 48 MB and took an eighth of
// the renderer's CPU. Generated objects are small maps of names, hosts,
// labels, numbers and booleans, so emitPlain prints exactly the subset
// they use (block mappings and sequences, plain strings, integers,
// booleans) byte for byte as encodeValue would, and reports false for
// anything else — a string yaml.v3 would quote, an empty collection, a
// float, a sequence in a sequence, keys whose order could differ from
// yaml.v3's — and the caller prints the value with yaml.v3. FuzzEmitter
// checks that both print the same bytes wherever emitPlain accepts.

// emitPlain appends v as encodeValue prints it (two-space indentation,
// sequences in kubectl's compact layout), or reports false.
func emitPlain(b []byte, v map[string]any) ([]byte, bool) {
	if len(v) == 0 {
		return nil, false
	}
	return emitMapping(b, v, 0, false)
}

// emitMapping appends the entries of m at indentation ind; inline: the
// first key follows a sequence's "- " already written.
func emitMapping(b []byte, m map[string]any, ind int, inline bool) ([]byte, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !plainString(k) || len(k) > 100 { // a long key is a "? " key to yaml.v3
			return nil, false
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if !sameOrder(keys[i-1], keys[i]) {
			return nil, false
		}
	}
	for i, k := range keys {
		if i > 0 || !inline {
			b = indent(b, ind)
		}
		b = append(b, k...)
		b = append(b, ':')
		var ok bool
		if b, ok = emitEntry(b, m[k], ind); !ok {
			return nil, false
		}
	}
	return b, true
}

// emitEntry appends the value of a key at indentation ind, from the colon.
func emitEntry(b []byte, v any, ind int) ([]byte, bool) {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return nil, false
		}
		return emitMapping(append(b, '\n'), v, ind+2, false)
	case []any:
		if len(v) == 0 {
			return nil, false
		}
		return emitSequence(append(b, '\n'), v, ind)
	}
	b = append(b, ' ')
	b, ok := emitScalar(b, v)
	return append(b, '\n'), ok
}

// emitSequence appends the items of s at indentation ind (compact: a
// sequence's dashes line up with its key).
func emitSequence(b []byte, s []any, ind int) ([]byte, bool) {
	for _, item := range s {
		b = indent(b, ind)
		b = append(b, "- "...)
		var ok bool
		switch item := item.(type) {
		case map[string]any:
			if len(item) == 0 {
				return nil, false
			}
			b, ok = emitMapping(b, item, ind+2, true)
		case []any:
			return nil, false
		default:
			b, ok = emitScalar(b, item)
			b = append(b, '\n')
		}
		if !ok {
			return nil, false
		}
	}
	return b, true
}

// emitScalar appends a string yaml.v3 prints plain, an integer or a
// boolean.
func emitScalar(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		if !plainValue(v) {
			return nil, false
		}
		return append(b, v...), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case bool:
		return strconv.AppendBool(b, v), true
	}
	return nil, false
}

// plainString reports whether yaml.v3 prints s as a plain scalar for
// sure: a letter, then letters, digits and ". _ / -", and no word YAML 1.1
// or 1.2 reads as a boolean or null (yamlString's rule, which the patches
// use too).
func plainString(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return false
		}
	}
	return len(s) > 5 || !yaml11Words[strings.ToLower(s)]
}

// plainValue is plainString for a value, which may also hold ':' except
// at its end ("registry.example/app:2.0"): libyaml's emitters (yaml.v2's
// and yaml.v3's) print such a value plain in block context, since a colon
// not followed by a space or the end indicates nothing there. Keys keep
// plainString's rule.
func plainValue(s string) bool {
	if !strings.Contains(s, ":") {
		return plainString(s)
	}
	if s[len(s)-1] == ':' {
		return false
	}
	return plainString(strings.ReplaceAll(s, ":", "."))
}

// sameOrder reports whether yaml.v3, which sorts keys comparing runs of
// digits as numbers and letters before other characters, puts a before b
// as a byte-wise sort does: a is a prefix of b, or they first differ in
// two letters.
func sameOrder(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return isLetter(a[i]) && isLetter(b[i])
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func indent(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}
