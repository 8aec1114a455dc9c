package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The walker checks a YAML node tree against a Go type and writes it out as
// JSON for encoding/json to decode. It exists because the API types carry
// only json tags and embed apimachinery types (ObjectMeta, Quantity,
// IntOrString) that YAML libraries would misname; reading the json tags
// here keeps one source of truth for field names and gives every problem
// its field path and line, which encoding/json cannot.
//
// Only fields the type knows are written, so unknown fields are reported
// here and never reach encoding/json. A value with a problem is written as
// null, so the output stays well-formed: the object decodes without it and
// its other fields can still be validated (Document.Incomplete).
type walker struct {
	source string
	offset int // lines before the parsed piece of input: node lines are relative to it
	report *report
	failed bool                // this walker reported a problem
	unread []unread            // where those problems are
	frames []frame             // the objects being walked, outermost first: where a misplaced field may belong
	lines  map[string]int      // field path → line, for Document.Position
	active map[*yaml.Node]bool // collections being walked: an alias to one is a cycle
	types  map[reflect.Type]*structFields
	out    bytes.Buffer
}

// report collects the problems of one input and bounds the work spent on
// it. Aliases let a few hundred bytes of YAML name billions of nodes (the
// "billion laughs"): every node walked and every scalar byte written is
// charged against a budget a few times the input's size, so aliases can at
// most multiply the input a few times. Problems are capped too, so a
// thousand copies of a broken document do not make a million-line error.
type report struct {
	errs    Errors
	left    int  // budget left
	limit   int  // the whole budget, for the message
	stopped bool // the budget or the problem cap ran out: stop everything
}

// maxErrors is how many problems one input reports: more than anyone
// reads, and few enough that a hostile input cannot make a huge error.
const maxErrors = 100

func newReport(inputLen int) *report {
	// A manifest without aliases costs at most about twice its length (a
	// node per byte, each scalar byte once); 64 KiB of slack lets small
	// manifests share anchors generously.
	n := 4*inputLen + 64<<10
	return &report{left: n, limit: n}
}

// add records a problem, unless the cap was reached.
func (r *report) add(e FieldError) {
	if r.stopped {
		return
	}
	r.errs = append(r.errs, e)
	if len(r.errs) >= maxErrors {
		r.errs = append(r.errs, FieldError{Source: e.Source, Message: fmt.Sprintf("too many problems: stopped after %d", maxErrors)})
		r.stopped = true
	}
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// leafHints say what a json.Unmarshaler type accepts, for its error
// messages; others fall back to the error it returned.
var leafHints = map[reflect.Type]string{
	reflect.TypeFor[resource.Quantity]():  "must be a quantity such as 500m, 2 or 1Gi",
	reflect.TypeFor[metav1.Time]():        "must be a time such as 2006-01-02T15:04:05Z",
	reflect.TypeFor[intstr.IntOrString](): "must be an integer or a string",
}

// fail records a problem at path, on the line of n.
func (w *walker) fail(n *yaml.Node, path, msg string) {
	w.problem(n, unread{path: path}, msg)
}

// failField records a problem with the field at path itself (unknown, not
// supported): the value it names is not read. meant is the field the user
// probably meant ("" if none is known).
func (w *walker) failField(n *yaml.Node, path, meant, msg string) {
	w.problem(n, unread{path: path, field: true, meant: meant}, msg)
}

func (w *walker) problem(n *yaml.Node, u unread, msg string) {
	w.failed = true
	w.unread = append(w.unread, u)
	w.report.add(FieldError{Source: w.source, Line: w.line(n), Path: u.path, Message: msg})
}

func (w *walker) line(n *yaml.Node) int {
	if n == nil || n.Line == 0 {
		return 0
	}
	return n.Line + w.offset
}

// record remembers the line of path, keeping the first one seen.
func (w *walker) record(path string, n *yaml.Node) {
	if _, ok := w.lines[path]; !ok && w.line(n) > 0 {
		w.lines[path] = w.line(n)
	}
}

// charge spends cost from the budget; false means stop walking.
func (w *walker) charge(n *yaml.Node, path string, cost int) bool {
	r := w.report
	if r.stopped {
		w.failed = true
		return false
	}
	r.left -= cost
	if r.left < 0 {
		w.fail(n, path, fmt.Sprintf("the input grows past %d bytes once YAML aliases (*name) are expanded; repeat less through aliases", r.limit))
		r.stopped = true
		return false
	}
	return true
}

// value walks n as a value of type t at path, writing its JSON. A value it
// cannot read is written as null (absent), so that the rest of the object
// still decodes and can be validated: its other problems are reported too.
func (w *walker) value(n *yaml.Node, t reflect.Type, path string) {
	start := w.out.Len()
	if !w.write(n, t, path) {
		w.out.Truncate(start)
		w.out.WriteString("null")
	}
}

// write is value's work; false means it reported a problem instead of
// writing a value.
func (w *walker) write(n *yaml.Node, t reflect.Type, path string) bool {
	n, ok := w.deref(n, path)
	if !ok || !w.charge(n, path, 1+len(n.Value)) {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return w.leaf(n, t, path)
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		w.active[n] = true
		defer delete(w.active, n)
	}
	switch t.Kind() {
	case reflect.Struct:
		return w.structure(n, t, path)
	case reflect.Map:
		return w.mapping(n, t, path)
	case reflect.Slice, reflect.Array:
		return w.sequence(n, t.Elem(), path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "must be a string, got "+describe(n))
			return false
		}
		// The text as written, whatever YAML would call it: "value: 8080"
		// in env is the string "8080", as with kubectl.
		w.writeString(n.Value)
	case reflect.Bool:
		// Only YAML 1.2 booleans: "yes" and "on" are strings, as in
		// Kubernetes, rather than a surprise.
		v, _ := scalarValue(n)
		b, ok := v.(bool)
		if !ok {
			w.fail(n, path, "must be true or false, got "+describe(n))
			return false
		}
		w.out.WriteString(strconv.FormatBool(b))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return w.integer(n, t, path)
	case reflect.Float32, reflect.Float64:
		f, ok := scalarNumber(n)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			w.fail(n, path, "must be a number, got "+describe(n))
			return false
		}
		w.out.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.Interface:
		return w.generic(n, path)
	default:
		w.fail(n, path, fmt.Sprintf("cannot be decoded into a Go %s", t))
		return false
	}
	return true
}

// structure walks a mapping into struct type t. Unknown and repeated
// fields are reported and left out; the struct is still written.
func (w *walker) structure(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a map, got "+describe(n))
		return false
	}
	fields := w.fieldsOf(t)
	w.frames = append(w.frames, frame{path, t})
	defer func() { w.frames = w.frames[:len(w.frames)-1] }()
	w.out.WriteByte('{')
	written := 0
	seen := map[string]int{}
	for _, p := range w.pairs(n, path) {
		name, ok := w.key(p.key, path)
		if !ok || !w.charge(p.key, path, 1) {
			continue
		}
		fpath := join(path, name)
		if first, dup := seen[name]; dup {
			w.fail(p.key, fpath, fmt.Sprintf("is set more than once (first at line %d)", first))
			continue
		}
		seen[name] = w.line(p.key)
		w.record(fpath, p.key)
		if isNull(p.value) || (path == "" && name == "status") {
			// Null means absent. Status is output: it is ignored on input,
			// as the Kubernetes API server ignores it, so a manifest printed
			// by kubectl can be applied as it is.
			continue
		}
		ft, known := fields.byName[name]
		if !known {
			if isUnsupported(t, name) && isEmpty(p.value) {
				continue // Knative writes enableServiceLinks: false into every Service
			}
			msg, meant := w.unknown(t, fields, name, p.value)
			w.failField(p.key, fpath, meant, msg)
			continue
		}
		if written > 0 {
			w.out.WriteByte(',')
		}
		written++
		w.writeString(name)
		w.out.WriteByte(':')
		w.value(p.value, ft, fpath)
	}
	w.out.WriteByte('}')
	return true
}

// mapping walks a mapping into a map with string keys.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a map, got "+describe(n))
		return false
	}
	if t.Key().Kind() != reflect.String {
		w.fail(n, path, fmt.Sprintf("cannot be decoded into a Go %s", t))
		return false
	}
	w.out.WriteByte('{')
	written := 0
	seen := map[string]int{}
	for _, p := range w.pairs(n, path) {
		k, ok := w.key(p.key, path)
		if !ok || !w.charge(p.key, path, 1) {
			continue
		}
		kpath := path + "[" + k + "]" // as field.Path.Key renders it
		if first, dup := seen[k]; dup {
			w.fail(p.key, kpath, fmt.Sprintf("is set more than once (first at line %d)", first))
			continue
		}
		seen[k] = w.line(p.key)
		w.record(kpath, p.key)
		if isNull(p.value) {
			continue
		}
		if written > 0 {
			w.out.WriteByte(',')
		}
		written++
		w.writeString(k)
		w.out.WriteByte(':')
		w.value(p.value, t.Elem(), kpath)
	}
	w.out.WriteByte('}')
	return true
}

// sequence walks a list whose items are of type elem.
func (w *walker) sequence(n *yaml.Node, elem reflect.Type, path string) bool {
	if n.Kind != yaml.SequenceNode {
		w.fail(n, path, "must be a list, got "+describe(n))
		return false
	}
	w.out.WriteByte('[')
	for i, item := range n.Content {
		if i > 0 {
			w.out.WriteByte(',')
		}
		ipath := path + "[" + strconv.Itoa(i) + "]"
		w.record(ipath, item)
		if isNull(item) {
			w.out.WriteString("null") // keeps later indexes, and their lines, in place
			continue
		}
		w.value(item, elem, ipath)
	}
	w.out.WriteByte(']')
	return true
}

// integer writes a whole number that fits t, or reports why not.
func (w *walker) integer(n *yaml.Node, t reflect.Type, path string) bool {
	var lo, hi string
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		lo, hi = "0", strconv.FormatUint(math.MaxUint64>>(64-t.Bits()), 10)
	} else {
		lo, hi = strconv.FormatInt(math.MinInt64>>(64-t.Bits()), 10), strconv.FormatInt(math.MaxInt64>>(64-t.Bits()), 10)
	}
	v, ok := scalarValue(n)
	var s string
	switch x := v.(type) {
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		// 1e3 and 2.0 are whole numbers; 1.5 is not.
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			s = strconv.FormatInt(int64(x), 10)
		}
	}
	if !ok || s == "" {
		w.fail(n, path, "must be an integer, got "+describe(n))
		return false
	}
	if !fits(s, t) {
		w.fail(n, path, fmt.Sprintf("must be an integer between %s and %s, got %s", lo, hi, describe(n)))
		return false
	}
	w.out.WriteString(s)
	return true
}

// fits tells whether decimal s fits integer type t.
func fits(s string, t reflect.Type) bool {
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		_, err := strconv.ParseUint(s, 10, t.Bits())
		return err == nil
	}
	_, err := strconv.ParseInt(s, 10, t.Bits())
	return err == nil
}

// leaf writes a value whose type decodes itself from JSON (Quantity, Time,
// IntOrString), then checks that it does, so a bad one is reported with
// its path and line rather than as encoding/json's first error.
func (w *walker) leaf(n *yaml.Node, t reflect.Type, path string) bool {
	start := w.out.Len()
	if !w.generic(n, path) {
		return false
	}
	raw := w.out.Bytes()[start:]
	if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
		hint, ok := leafHints[t]
		if !ok {
			hint = "is invalid (" + err.Error() + ")"
		}
		w.fail(n, path, hint+", got "+describe(n))
		return false
	}
	return true
}

func (w *walker) writeString(s string) {
	b, _ := json.Marshal(s) // a string always marshals
	w.out.Write(b)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
