package v1

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Hints for a field indented at the wrong depth: spec: under spec: is
// "spec.spec: unknown field" to the walker, but the user meant
// spec.template.spec, two spaces further in. The walker keeps the chain of
// objects it is inside (frames); a field one of them lacks is looked for
// in the objects around it and inside it, and the value's own keys say
// which place fits best.

// frame is one object the walker is inside: its path and Go type.
type frame struct {
	path string
	t    reflect.Type
}

// maxMove bounds how far a hint moves a field, in levels up and down: a
// field that fits only further away is more likely another mistake.
const maxMove = 3

// place is where a field could go: its path, and how many levels up and
// then down from where it was written.
type place struct {
	path     string
	up, down int
	t        reflect.Type // the field's type there
}

// misplaced returns a hint for a field called name that the innermost
// frame lacks, with value as written, and the path it suggests; or "" if
// no nearby object has it.
func (w *walker) misplaced(name string, value *yaml.Node) (hint, meant string) {
	if len(w.frames) == 0 {
		return "", ""
	}
	var places []place
	for up := 0; up < len(w.frames) && up <= maxMove; up++ {
		a := w.frames[len(w.frames)-1-up]
		skip := "" // the way back down the chain, searched from closer frames
		if up > 0 {
			skip = w.frames[len(w.frames)-up].path
		}
		places = append(places, w.fieldsBelow(a, name, up, skip)...)
	}
	best, bestScore, tie := place{}, -1, false
	for _, p := range places {
		score, fits := fit(w, p.t, value)
		if !fits || w.onChain(p.path) {
			continue // spec under spec does not mean the spec it is in
		}
		switch better(p, score, best, bestScore) {
		case 1:
			best, bestScore, tie = p, score, false
		case 0:
			tie = true
		}
	}
	if bestScore < 0 || tie {
		return "", "" // nowhere it fits, or no one place
	}
	here := w.frames[len(w.frames)-1].path
	where := "at the top level"
	if here != "" {
		where = "indented under " + here
	}
	var move string
	switch {
	case best.down == 0:
		move = fmt.Sprintf("it %s up (%s)", levels(best.up), best.path)
	case best.up == 0:
		parent := strings.TrimPrefix(strings.TrimPrefix(parentPath(best.path), here), ".")
		move = fmt.Sprintf("it %s deeper, under %s (%s)", levels(best.down), parent, best.path)
	default:
		move = best.path
	}
	return fmt.Sprintf("unknown field; it is %s: did you mean %s?", where, move), best.path
}

// better compares place p, whose value's keys fit score of its fields,
// with the best so far: 1 if p is better, -1 if worse, 0 if as good. More
// keys that fit win, then fewer levels moved, then a place up (an object
// around the field exists; one inside it may not).
func better(p place, score int, best place, bestScore int) int {
	switch {
	case bestScore < 0 || score > bestScore:
		return 1
	case score < bestScore:
		return -1
	}
	if d, bd := p.up+p.down, best.up+best.down; d != bd {
		if d < bd {
			return 1
		}
		return -1
	}
	if (p.down == 0) != (best.down == 0) {
		if p.down == 0 {
			return 1
		}
		return -1
	}
	return 0
}

// fieldsBelow lists the places under frame a, at most maxMove-up levels
// down, where a field is called name, not searching through skip.
func (w *walker) fieldsBelow(a frame, name string, up int, skip string) []place {
	type node struct {
		path  string
		t     reflect.Type
		depth int
	}
	var out []place
	level := []node{{a.path, a.t, 0}}
	for len(level) > 0 {
		var next []node
		for _, n := range level {
			fields := w.fieldsOf(n.t)
			if ft, ok := fields.byName[name]; ok && (up > 0 || n.depth > 0) {
				out = append(out, place{path: join(n.path, name), up: up, down: n.depth, t: ft})
			}
			if up+n.depth+1 > maxMove {
				continue
			}
			for _, f := range fields.names {
				p, t := join(n.path, f), structOf(fields.byName[f])
				if t == nil || anyIndex(p) == anyIndex(skip) {
					continue
				}
				if isList(fields.byName[f]) {
					p += "[0]"
				}
				next = append(next, node{p, t, n.depth + 1})
			}
		}
		level = next
	}
	return out
}

// onChain tells whether path is one of the objects the walker is inside.
func (w *walker) onChain(path string) bool {
	for _, f := range w.frames {
		if anyIndex(f.path) == anyIndex(path) {
			return true
		}
	}
	return false
}

// structOf returns the struct a field of type t holds (through pointers
// and lists), or nil for anything else, such as a type that decodes
// itself (Quantity).
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	return t
}

func isList(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
}

// fit tells whether value, as written, can be a field of type t: a map
// for a struct or a map, a list for a list, a scalar for anything else;
// and for a struct, how many of the map's keys are its fields (none: it
// does not fit).
func fit(w *walker, t reflect.Type, value *yaml.Node) (score int, fits bool) {
	value = resolve(value)
	if value == nil || isNull(value) {
		return 0, true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	leaf := reflect.PointerTo(t).Implements(jsonUnmarshaler)
	switch value.Kind {
	case yaml.MappingNode:
		if leaf || (t.Kind() != reflect.Struct && t.Kind() != reflect.Map) {
			return 0, false
		}
		if t.Kind() == reflect.Map || len(value.Content) == 0 {
			return 0, true
		}
		fields := w.fieldsOf(t)
		for i := 0; i+1 < len(value.Content); i += 2 {
			if _, ok := fields.byName[value.Content[i].Value]; ok {
				score++
			}
		}
		return score, score > 0
	case yaml.SequenceNode:
		return 0, !leaf && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array)
	}
	return 0, leaf || (t.Kind() != reflect.Struct && t.Kind() != reflect.Map && t.Kind() != reflect.Slice && t.Kind() != reflect.Array)
}

// resolve follows aliases, a few at most (a cycle is the walker's to
// report).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// levels says how many levels, in words.
func levels(n int) string {
	switch n {
	case 1:
		return "one level"
	case 2:
		return "two levels"
	case 3:
		return "three levels"
	}
	return fmt.Sprintf("%d levels", n)
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

// anyIndex writes every list index of a path as [0], so that places in
// different items of a list compare equal.
func anyIndex(path string) string { return listIndex.ReplaceAllString(path, "[0]") }
