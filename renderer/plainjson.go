package renderer

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// decodePlain reads the JSON encoding/json.Marshal printed into the plain
// values json.Unmarshal into an any gives, with the integral numbers as
// int64s as integers makes them: plain's second half, which was a tenth
// of the renderer's CPU at 5 000 pairs (encoding/json decodes through a
// byte-by-byte state machine, then integers walks the result again). It
// reads only what Marshal prints for the renderer's objects — no
// whitespace, strings without escapes — and reports false for anything
// else, which the caller gives to encoding/json. FuzzDecodePlain checks
// both read the same values.
func decodePlain(js []byte) (map[string]any, bool) {
	d := plainDecoder{b: js}
	v, ok := d.value()
	m, isMap := v.(map[string]any)
	if !ok || !isMap || d.i != len(js) {
		return nil, false
	}
	return m, true
}

type plainDecoder struct {
	b []byte
	i int
}

func (d *plainDecoder) value() (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		m := map[string]any{}
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, true
		}
		for {
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			k, ok := d.str()
			if !ok || d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			if _, dup := m[k]; dup {
				return nil, false // Marshal prints none; Unmarshal keeps the last
			}
			if m[k], ok = d.value(); !ok {
				return nil, false
			}
			if d.i >= len(d.b) {
				return nil, false
			}
			d.i++
			switch d.b[d.i-1] {
			case ',':
			case '}':
				return m, true
			default:
				return nil, false
			}
		}
	case c == '[':
		d.i++
		s := []any{}
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return s, true
		}
		for {
			v, ok := d.value()
			if !ok || d.i >= len(d.b) {
				return nil, false
			}
			s = append(s, v)
			d.i++
			switch d.b[d.i-1] {
			case ',':
			case ']':
				return s, true
			default:
				return nil, false
			}
		}
	case c == '"':
		return d.str()
	case c == 't' && bytes.HasPrefix(d.b[d.i:], []byte("true")):
		d.i += 4
		return true, true
	case c == 'f' && bytes.HasPrefix(d.b[d.i:], []byte("false")):
		d.i += 5
		return false, true
	case c == 'n' && bytes.HasPrefix(d.b[d.i:], []byte("null")):
		d.i += 4
		return nil, true
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, false
}

// str reads a string without escapes (and so without control characters
// or invalid UTF-8, which Marshal escapes and Unmarshal replaces).
func (d *plainDecoder) str() (string, bool) {
	start := d.i + 1
	ascii := true
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(d.b[start:j]) {
				return "", false
			}
			d.i = j + 1
			return string(d.b[start:j]), true
		case c == '\\' || c < ' ':
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", false
}

// number reads a number as json.Unmarshal (a float64) and integers (an
// int64 when integral and below 2^53 in magnitude) do; it takes JSON's
// grammar only: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *plainDecoder) number() (any, bool) {
	b, start := d.b, d.i
	i := start
	digitsFrom := func() int { // the end of a run of digits from i
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	j := digitsFrom()
	if j == i || b[i] == '0' && j > i+1 {
		return nil, false // no digits, or a leading zero
	}
	i = j
	integral := true
	if i < len(b) && b[i] == '.' {
		i++
		if j = digitsFrom(); j == i {
			return nil, false
		}
		i, integral = j, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if j = digitsFrom(); j == i {
			return nil, false
		}
		i, integral = j, false
	}
	d.i = i
	text := string(b[start:i])
	if integral && len(text) <= 16 {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil && n > -(1<<53) && n < 1<<53 {
			return n, true // "-0" too: integers makes -0.0 an int64 0
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return nil, false
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f), true
	}
	return f, true
}
