package installer

import (
	"regexp"
	"strings"
)

// Reading a release manifest is most of a no-op re-run's own CPU time:
// base's is ~1 MB of CRD schemas. Helm's releaseutil.SplitManifests runs a
// regular expression over all of it and a full YAML parse of a CRD builds
// its whole schema only to read four fields. splitManifest and
// objectHeader do the same for the way Helm writes manifests, and give way
// to the full parse for a document written any other way
// (TestSplitManifestLikeHelm, TestObjectHeaderLikeYAML).

// splitManifest is releaseutil.SplitManifests' split, in order: documents
// are separated by "---" at the start of the manifest or of a line (the
// whitespace after it is part of the separator), each trimmed, empty ones
// dropped.
func splitManifest(manifest string) []string {
	s := strings.TrimSpace(manifest)
	var docs []string
	add := func(d string) {
		if d = strings.TrimSpace(d); d != "" {
			docs = append(docs, d)
		}
	}
	start := 0
	if strings.HasPrefix(s, "---") {
		start = skipSpace(s, 3)
	}
	for {
		i := strings.Index(s[start:], "\n---")
		if i < 0 {
			add(s[start:])
			return docs
		}
		add(s[start : start+i])
		start = skipSpace(s, start+i+4)
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// whitespace as RE2's \s means it (ASCII space, \t, \n, \f, \r).
func skipSpace(s string, i int) int {
	for i < len(s) && strings.IndexByte(" \t\n\f\r", s[i]) >= 0 {
		i++
	}
	return i
}

// plainName is a plain YAML scalar that is a string to every YAML parser:
// it starts with a letter (no number, no indicator) and holds no space,
// quote, '#' or ':'. The words YAML 1.1 reads as booleans or null are
// refused by objectHeader on their own.
var plainName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

// objectHeader reads apiVersion, kind, metadata.name and metadata.namespace
// of one document written in block style with those keys unquoted, one per
// line, their values plain or quoted without escapes; ok is false for
// anything else (flow style, anchors, tags, comments after a value, a
// value YAML would not read as a plain string, a key missing), and then the
// caller parses the document in full.
func objectHeader(doc string) (o objectRef, ok bool) {
	inMeta, metaIndent := false, -1
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\n")
		body := strings.TrimLeft(line, " ")
		if body == "" || body[0] == '#' {
			continue
		}
		indent := len(line) - len(body)
		if body[0] == '\t' {
			return o, false
		}
		if indent == 0 && (body == "-" || strings.HasPrefix(body, "- ")) {
			if inMeta {
				return o, false // metadata is a mapping
			}
			continue // an item of a top-level key's sequence
		}
		if indent == 0 {
			inMeta = false
			key, val, ok := keyValue(body)
			if !ok {
				return o, false
			}
			switch key {
			case "apiVersion", "kind":
				v, ok := stringScalar(val)
				if !ok {
					return o, false
				}
				if key == "kind" {
					o.Kind = v
				} else {
					o.APIVersion = v
				}
			case "metadata":
				if val != "" {
					return o, false
				}
				inMeta, metaIndent = true, -1
			}
			continue
		}
		if !inMeta {
			continue
		}
		if metaIndent < 0 {
			metaIndent = indent
		}
		if indent < metaIndent {
			return o, false
		}
		if indent > metaIndent {
			continue // inside labels, annotations, ...
		}
		key, val, ok := keyValue(body)
		if !ok {
			return o, false
		}
		if key == "name" || key == "namespace" {
			v, ok := stringScalar(val)
			if !ok {
				return o, false
			}
			if key == "name" {
				o.Metadata.Name = v
			} else {
				o.Metadata.Namespace = v
			}
		}
	}
	return o, o.APIVersion != "" && o.Kind != "" && o.Metadata.Name != ""
}

// keyValue splits "key: value" or "key:" with a simple unquoted key.
func keyValue(line string) (key, val string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 || (i+1 < len(line) && line[i+1] != ' ') {
		return "", "", false
	}
	key = line[:i]
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return "", "", false
		}
	}
	return key, strings.TrimSpace(line[i+1:]), true
}

// stringScalar is the string a plain or quoted (without escapes) scalar
// means; ok is false for anything YAML might read otherwise.
func stringScalar(v string) (string, bool) {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		inner := v[1 : len(v)-1]
		if strings.ContainsAny(inner, "\"'\\") {
			return "", false
		}
		return inner, true
	}
	if !plainName.MatchString(v) {
		return "", false
	}
	switch strings.ToLower(v) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return "", false
	}
	return v, true
}
