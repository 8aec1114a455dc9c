package v1

import (
	"fmt"
	"math"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// YAML node helpers for the walker: aliases, merge keys (<<), keys and
// scalars as YAML resolves them.

// deref follows an alias to the node it names. It fails on an alias to a
// collection being walked, which would repeat forever.
func (w *walker) deref(n *yaml.Node, path string) (*yaml.Node, bool) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil || w.active[n.Alias] {
			w.fail(n, path, fmt.Sprintf("alias *%s refers to a value that contains it", truncate(n.Value)))
			return nil, false
		}
		n = n.Alias
	}
	return n, true
}

// isNull tells whether n is, or names, a YAML null (~, null, nothing).
func isNull(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what n is, for "must be X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" || n.Value == "" {
			return quote(n.Value)
		}
		return truncate(n.Value)
	}
	return "nothing"
}

// isEmpty tells whether n is a zero value (false, 0, "", {} or []), which
// asks for nothing even of a field wake does not support.
func isEmpty(n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.ScalarNode:
		v, _ := scalarValue(n)
		switch x := v.(type) {
		case bool:
			return !x
		case int:
			return x == 0
		case string:
			return x == ""
		}
	}
	return false
}

// generic writes any node as JSON, typing scalars as YAML resolves them.
// It is used where the Go type does not constrain the value. Problems are
// reported at path, the value's own: building a path for every node of a
// value 10,000 levels deep would cost more than the rest of the decode.
func (w *walker) generic(n *yaml.Node, path string) bool {
	n, ok := w.deref(n, path)
	if !ok || !w.charge(n, path, 1+len(n.Value)) {
		return false
	}
	switch n.Kind {
	case yaml.MappingNode:
		w.active[n] = true
		defer delete(w.active, n)
		w.out.WriteByte('{')
		seen := map[string]bool{}
		for i, p := range w.pairs(n, path) {
			k, ok := w.key(p.key, path)
			if !ok {
				return false
			}
			if seen[k] {
				w.fail(p.key, path, fmt.Sprintf("has key %s more than once", quote(k)))
				return false
			}
			seen[k] = true
			if i > 0 {
				w.out.WriteByte(',')
			}
			w.writeString(k)
			w.out.WriteByte(':')
			if !w.generic(p.value, path) {
				return false
			}
		}
		w.out.WriteByte('}')
	case yaml.SequenceNode:
		w.active[n] = true
		defer delete(w.active, n)
		w.out.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				w.out.WriteByte(',')
			}
			if !w.generic(item, path) {
				return false
			}
		}
		w.out.WriteByte(']')
	case yaml.ScalarNode:
		w.scalar(n)
	default:
		w.fail(n, path, "is not a YAML value")
		return false
	}
	return true
}

// scalar writes a scalar as the JSON type YAML resolves it to.
func (w *walker) scalar(n *yaml.Node) {
	v, _ := scalarValue(n)
	switch x := v.(type) {
	case nil:
		w.out.WriteString("null")
	case bool:
		w.out.WriteString(strconv.FormatBool(x))
	case int:
		w.out.WriteString(strconv.Itoa(x))
	case int64:
		w.out.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		w.out.WriteString(strconv.FormatUint(x, 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			w.writeString(n.Value) // JSON has no NaN; let the type reject it
		} else {
			w.out.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		}
	default: // strings, timestamps, binary: the text as written
		w.writeString(n.Value)
	}
}

// scalarValue resolves a scalar as YAML does (0x1F, 1_000, .5, ~, true).
// It reports false for a collection or a scalar whose explicit tag does
// not fit its text (!!int abc).
func scalarValue(n *yaml.Node) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		return nil, false
	}
	switch n.ShortTag() {
	case "!!str", "!!binary", "!!timestamp":
		return n.Value, true
	case "!!null":
		return nil, true
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, false
		}
		return v, true
	}
	return n.Value, true // a local tag (!foo): its text
}

// scalarNumber is scalarValue for numbers.
func scalarNumber(n *yaml.Node) (float64, bool) {
	v, ok := scalarValue(n)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// key reads a mapping key. Keys are strings: a scalar of any YAML type is
// taken as written (a label key 8080 is "8080"); a collection is an error.
func (w *walker) key(k *yaml.Node, path string) (string, bool) {
	k, ok := w.deref(k, path)
	if !ok {
		return "", false
	}
	if k.Kind != yaml.ScalarNode {
		w.fail(k, path, "has a key that is "+describe(k)+"; keys must be strings")
		return "", false
	}
	return k.Value, true
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<: *base)
// expanded: keys written in the mapping win over merged ones, and earlier
// merged mappings win over later ones, as YAML specifies.
func (w *walker) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, w.mergeSources(v, path)...)
			continue
		}
		explicit = append(explicit, pair{k, v})
	}
	if len(merged) == 0 {
		return explicit
	}
	set := map[string]bool{}
	for _, p := range explicit {
		if p.key.Kind == yaml.ScalarNode {
			set[p.key.Value] = true
		}
	}
	out := explicit
	for _, p := range merged {
		if p.key.Kind == yaml.ScalarNode && set[p.key.Value] {
			continue
		}
		set[p.key.Value] = true
		out = append(out, p)
	}
	return out
}

// mergeSources lists the entries a merge key brings in: from a mapping or
// a list of mappings, usually aliases.
func (w *walker) mergeSources(v *yaml.Node, path string) []pair {
	v, ok := w.deref(v, path)
	if !ok || !w.charge(v, path, 1) {
		return nil
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, item := range v.Content {
			item, ok := w.deref(item, path)
			if !ok {
				return nil
			}
			sources = append(sources, item)
		}
	}
	var out []pair
	for _, s := range sources {
		if s.Kind != yaml.MappingNode {
			w.fail(v, path, "has a merge key (<<) whose value is "+describe(s)+"; it must be a map or a list of maps")
			return nil
		}
		if !w.charge(s, path, len(s.Content)) {
			return nil
		}
		w.active[s] = true
		out = append(out, w.pairs(s, path)...)
		delete(w.active, s)
	}
	return out
}
