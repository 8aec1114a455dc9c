package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Document is one object decoded from a manifest, with what is needed to
// point at its fields: validation errors name a field path, and Position
// turns that path into the line the user wrote it on.
type Document struct {
	Source   string    // as given to Decode
	Index    int       // 0-based position of the object in the input; list items count one each, empty documents not at all
	Line     int       // line where the object starts
	Function *Function // the decoded Function; a Knative Service becomes one, with apiVersion wake.dev/v1 and kind Function

	lines map[string]int // field path (spec.traffic[1].percent) → line
}

// Position returns the line of path (as field.Path renders it), or of its
// nearest ancestor that has one (a missing field is reported where its
// parent is), or the document's first line.
func (d *Document) Position(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return d.Line
}

// parentPath drops the last element of a field path: spec.traffic[1] for
// spec.traffic[1].percent, metadata.annotations for
// metadata.annotations[autoscaling.knative.dev/window].
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
		return ""
	}
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// Errors renders validation errors of this document with its source and
// their lines, in line order. It returns nil for an empty list.
func (d *Document) Errors(list field.ErrorList) Errors {
	errs := positionErrors(list, d.Source, d.Position)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

// objectKind says how to decode one apiVersion and kind. Decode reads
// apiVersion and kind first and looks them up here, so supporting a new
// kind is a line: its Go type and where it goes in a Document.
type objectKind struct {
	apiVersion, kind string
	typ              reflect.Type
	store            func(d *Document, obj any)
}

var kinds = []objectKind{
	{APIVersion, KindFunction, reflect.TypeFor[Function](), storeFunction},
	{KnativeServingAPIVersion, KindService, reflect.TypeFor[Function](), storeFunction},
}

// storeFunction keeps a decoded Function, as wake's own kind whatever the
// manifest called it.
func storeFunction(d *Document, obj any) {
	f := obj.(*Function)
	f.APIVersion, f.Kind = APIVersion, KindFunction
	d.Function = f
}

// listKind is a list whose items are decoded as documents of their own:
// kubectl prints "apiVersion: v1, kind: List"; the admin API prints a
// FunctionList whose items may omit their apiVersion and kind.
type listKind struct {
	apiVersion, kind         string
	itemAPIVersion, itemKind string // for items that name neither
}

var listKinds = []listKind{
	{"v1", "List", "", ""},
	{APIVersion, KindFunctionList, APIVersion, KindFunction},
}

// accepted lists the kinds Decode accepts, for error messages.
func accepted() string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.apiVersion + " " + k.kind
	}
	if len(names) == 1 {
		return "wake accepts " + names[0]
	}
	return "wake accepts " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// Decode reads every object in a manifest: YAML with any number of
// documents, JSON (one object or several in a row), or a v1 List of them.
// Empty documents are skipped. Decoding is strict: an unknown field, a
// value of the wrong type, an unsupported kind or a syntax error is an
// error, and every one found in the input is reported, with its line.
//
// The error, if any, is an Errors. The documents that decoded cleanly are
// returned even then, so a caller can validate them too and report all
// problems at once. Decode returns no documents and no error for an input
// with no objects in it.
func Decode(source string, data []byte) (docs []*Document, err error) {
	d := &decoder{source: source, data: data, report: newReport(len(data)), types: map[reflect.Type]*structFields{}}
	defer func() {
		// Nothing a user sends may crash a component. FuzzDecode checks
		// that this never fires.
		if r := recover(); r != nil {
			docs, err = nil, Errors{{Source: source, Message: fmt.Sprintf("internal error decoding the manifest: %v", r)}}
		}
	}()
	pieces := jsonStream(data)
	if pieces == nil {
		pieces = [][2]int{{0, len(data)}}
	}
	for _, p := range pieces {
		d.parse(p[0], p[1])
	}
	if len(d.report.errs) > 0 {
		return d.docs, d.report.errs
	}
	return d.docs, nil
}

type decoder struct {
	source string
	data   []byte
	docs   []*Document
	index  int
	report *report
	types  map[reflect.Type]*structFields
}

// yamlLine matches the position yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// parse decodes the documents in data[start:end]. After a syntax error it
// resumes at the next "---", so one broken document does not hide the
// problems of the others.
func (d *decoder) parse(start, end int) {
	for start < end && !d.report.stopped {
		offset := bytes.Count(d.data[:start], []byte("\n"))
		dec := yaml.NewDecoder(bytes.NewReader(d.data[start:end]))
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				line, msg := syntaxError(err, d.data[start:end])
				d.report.add(FieldError{Source: d.source, Line: line + offset, Message: msg})
				start = nextDocument(d.data, start, end, line+offset)
				break
			}
			if len(doc.Content) > 0 {
				d.object(doc.Content[0], offset, nil)
			}
		}
	}
}

// syntaxError splits yaml.v3's error into a line and a message. yaml.v3
// leaves the line out for problems on the first line and for bad bytes;
// those are found here.
func syntaxError(err error, data []byte) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil {
			return line, msg[len(m[0]):]
		}
	}
	if line := badTextLine(data); line > 0 {
		return line, msg
	}
	return 1, msg
}

// badTextLine returns the line of the first byte YAML does not accept
// (invalid UTF-8, a control character), or 0.
func badTextLine(b []byte) int {
	if bytes.HasPrefix(b, []byte{0xFF, 0xFE}) || bytes.HasPrefix(b, []byte{0xFE, 0xFF}) {
		return 0 // UTF-16, which yaml.v3 reads; not checked here
	}
	line := 1
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
			(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD && !(r == utf8.RuneError && size == 1)) ||
			(r >= 0x10000 && r <= utf8.MaxRune)
		if !ok {
			return line
		}
		if r == '\n' {
			line++
		}
		i += size
	}
	return 0
}

// nextDocument returns the offset of the first "---" line in
// data[start:end] after line afterLine (counted from the start of data),
// or end if there is none.
func nextDocument(data []byte, start, end, afterLine int) int {
	line := bytes.Count(data[:start], []byte("\n")) + 1
	for i := start; i < end; {
		nl := bytes.IndexByte(data[i:end], '\n')
		next := end
		if nl >= 0 {
			next = i + nl + 1
		}
		text := data[i:next]
		if line > afterLine && i > start && bytes.HasPrefix(text, []byte("---")) &&
			(len(text) == 3 || strings.ContainsRune(" \t\r\n", rune(text[3]))) {
			return i
		}
		i, line = next, line+1
	}
	return end
}

// jsonStream splits objects written one after another ({...}{...}, as jq
// prints them), which YAML would reject after the first, into the ranges
// of data holding each. It returns nil for anything else, which is parsed
// as YAML. It knows strings in both quote styles and YAML comments, so a
// brace inside one does not count.
func jsonStream(data []byte) [][2]int {
	var out [][2]int
	for i := skipSpace(data, 0); i < len(data); i = skipSpace(data, i) {
		if data[i] != '{' {
			return nil
		}
		end := closeBrace(data, i)
		if end < 0 {
			return nil
		}
		out = append(out, [2]int{i, end})
		i = end
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && strings.IndexByte(" \t\r\n", data[i]) >= 0 {
		i++
	}
	return i
}

// closeBrace returns the offset just past the brace that closes the one
// at data[i], or -1.
func closeBrace(data []byte, i int) int {
	depth := 0
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '\'':
			// YAML single quotes: '' is a quote inside, and two closing
			// quotes in a row read the same way, so no special case.
			for i++; i < len(data) && data[i] != '\''; i++ {
			}
		case '#':
			if i > 0 && strings.IndexByte(" \t\r\n", data[i-1]) >= 0 {
				for i < len(data) && data[i] != '\n' {
					i++
				}
			}
		}
	}
	return -1
}

// object decodes one object: a Function (or Service) or a list of them.
// list is the list the object is an item of, or nil.
func (d *decoder) object(n *yaml.Node, offset int, list *listKind) {
	w := &walker{source: d.source, offset: offset, report: d.report, lines: map[string]int{},
		active: map[*yaml.Node]bool{}, types: d.types}
	if isNull(n) {
		return // an empty document
	}
	n, ok := w.deref(n, "")
	if !ok || !w.charge(n, "", 1+len(n.Content)) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.index++
		w.fail(n, "", "must be a map with apiVersion and kind, got "+describe(n))
		return
	}
	apiVersion, kind := w.typeMeta(n)
	if w.failed {
		d.index++
		return
	}
	if list == nil {
		for _, lk := range listKinds {
			if apiVersion == lk.apiVersion && kind == lk.kind {
				d.list(w, n, lk)
				return
			}
		}
	} else if apiVersion == "" && kind == "" && list.itemKind != "" {
		apiVersion, kind = list.itemAPIVersion, list.itemKind
	}
	doc := &Document{Source: d.source, Index: d.index, Line: w.line(n), lines: w.lines}
	d.index++
	var k *objectKind
	for i := range kinds {
		if kinds[i].apiVersion == apiVersion && kinds[i].kind == kind {
			k = &kinds[i]
		}
	}
	switch {
	case apiVersion == "" && kind == "":
		w.fail(n, "", "apiVersion and kind are required: "+accepted())
	case apiVersion == "":
		w.fail(n, "apiVersion", "is required: "+accepted())
	case kind == "":
		w.fail(n, "kind", "is required: "+accepted())
	case k == nil:
		w.fail(n, "kind", fmt.Sprintf("unsupported kind %q of apiVersion %q: %s", kind, apiVersion, accepted()))
	}
	if k == nil {
		return
	}
	w.value(n, k.typ, "")
	if w.failed {
		return
	}
	obj := reflect.New(k.typ).Interface()
	dec := json.NewDecoder(&w.out)
	dec.DisallowUnknownFields() // the walker wrote only known fields; this is a guard
	if err := dec.Decode(obj); err != nil {
		w.fail(n, "", "internal error decoding the checked manifest: "+err.Error())
		return
	}
	k.store(doc, obj)
	d.docs = append(d.docs, doc)
}

// typeMeta reads apiVersion and kind, "" where absent.
func (w *walker) typeMeta(n *yaml.Node) (apiVersion, kind string) {
	for _, p := range w.pairs(n, "") {
		name, ok := w.key(p.key, "")
		if !ok || (name != "apiVersion" && name != "kind") || isNull(p.value) {
			continue
		}
		v, ok := w.deref(p.value, name)
		if !ok {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			w.fail(v, name, "must be a string, got "+describe(v))
			continue
		}
		if name == "apiVersion" {
			apiVersion = v.Value
		} else {
			kind = v.Value
		}
	}
	return apiVersion, kind
}

var listFields = []string{"apiVersion", "kind", "metadata", "items"}

// list decodes each item of a list as an object of its own, and checks the
// list's own fields.
func (d *decoder) list(w *walker, n *yaml.Node, lk listKind) {
	seen := map[string]bool{}
	for _, p := range w.pairs(n, "") {
		name, ok := w.key(p.key, "")
		if !ok {
			continue
		}
		if seen[name] {
			w.fail(p.key, name, "is set more than once")
			continue
		}
		seen[name] = true
		switch name {
		case "apiVersion", "kind":
		case "metadata":
			if !isNull(p.value) {
				w.value(p.value, reflect.TypeFor[metav1.ListMeta](), name)
			}
		case "items":
			items, ok := w.deref(p.value, name)
			if !ok || isNull(items) {
				continue
			}
			if items.Kind != yaml.SequenceNode {
				w.fail(items, name, "must be a list, got "+describe(items))
				continue
			}
			for _, item := range items.Content {
				d.object(item, w.offset, &lk)
			}
		default:
			msg := "unknown field"
			if s := suggest(name, listFields); s != "" {
				msg = fmt.Sprintf("unknown field; did you mean %q?", s)
			}
			w.fail(p.key, name, msg)
		}
	}
}
