package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

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
	Trigger  *Trigger  // or the decoded Trigger; a Knative PingSource or KafkaSource becomes one. Exactly one of the two is set

	// Incomplete says Decode reported problems in this object (an unknown
	// field, a value of the wrong type) and left out what it could not
	// read. Such a document is returned only so that its other problems
	// can be found as well; it must never be stored or applied.
	Incomplete bool

	lines   map[string]int // field path (spec.traffic[1].percent) → line
	renames []rename       // a Trigger's field paths → where a Knative source wrote them
	unread  []unread       // where the problems Decode reported are, when Incomplete
}

// unread is where Decode could not read an object: a value at path, or,
// with field set, an unknown field at path whose object may lack what the
// user meant it to be (a misspelt required field), and meant, where the
// user probably meant it (spec.template.spec for a spec under spec), if
// known.
type unread struct {
	path  string
	field bool
	meant string
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

// unreadNear tells whether an error of type typ at path may only follow
// from what Decode could not read (see Errors).
func (d *Document) unreadNear(path string, typ field.ErrorType) bool {
	for _, u := range d.unread {
		if !u.field {
			if within(u.path, path) || within(path, u.path) {
				return true
			}
			continue
		}
		parent := parentPath(u.path)
		if within(parent, path) || (typ == field.ErrorTypeRequired && parentPath(path) == parent) {
			return true
		}
		if u.meant != "" && (within(path, u.meant) || within(u.meant, path)) {
			return true // what is missing there is likely what was misplaced
		}
	}
	return false
}

// within tells whether field path p is inner or inside it: spec.traffic[1]
// is within spec.traffic and within itself, spec.trafficX is not.
func within(p, inner string) bool {
	if !strings.HasPrefix(p, inner) {
		return false
	}
	rest := p[len(inner):]
	return inner == "" || rest == "" || rest[0] == '.' || rest[0] == '['
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
//
// In an Incomplete document, an error that may only follow from what
// Decode could not read is left out: one about a value that holds, or is
// part of, an unreadable one (a sum that lacks an unreadable term), a
// required field missing beside an unknown one (which may be it,
// misspelt), and one about where an unknown field was probably meant to
// be (no containers in spec.template.spec, for a spec indented under
// spec). Decode's error already points there.
func (d *Document) Errors(list field.ErrorList) Errors {
	if len(d.renames) > 0 || len(d.unread) > 0 {
		kept := make(field.ErrorList, 0, len(list))
		for _, e := range list {
			if e != nil {
				c := *e
				c.Field = renamePath(c.Field, d.renames)
				if d.unreadNear(c.Field, c.Type) {
					continue
				}
				e = &c
			}
			kept = append(kept, e)
		}
		list = kept
	}
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
	store            func(d *Document, obj any) field.ErrorList // errors are what could not be converted
}

var kinds = []objectKind{
	{APIVersion, KindFunction, reflect.TypeFor[Function](), storeFunction},
	{KnativeServingAPIVersion, KindService, reflect.TypeFor[Function](), storeFunction},
	{APIVersion, KindTrigger, reflect.TypeFor[Trigger](), storeTrigger},
	{KnativeSourcesAPIVersion, KindPingSource, reflect.TypeFor[PingSource](), storePingSource},
	{KnativeSourcesV1beta1APIVersion, KindKafkaSource, reflect.TypeFor[KafkaSource](), storeKafkaSource},
}

// storeFunction keeps a decoded Function, as wake's own kind whatever the
// manifest called it.
func storeFunction(d *Document, obj any) field.ErrorList {
	f := obj.(*Function)
	f.APIVersion, f.Kind = APIVersion, KindFunction
	d.Function = f
	return nil
}

func storeTrigger(d *Document, obj any) field.ErrorList {
	d.Trigger = obj.(*Trigger)
	return nil
}

// storePingSource and storeKafkaSource keep a Knative source as the
// Trigger it becomes, and remember where its fields were written.
func storePingSource(d *Document, obj any) field.ErrorList {
	t, errs := obj.(*PingSource).Trigger()
	d.Trigger, d.renames = t, pingRenames
	return errs
}

func storeKafkaSource(d *Document, obj any) field.ErrorList {
	t, errs := obj.(*KafkaSource).Trigger()
	d.Trigger, d.renames = t, kafkaRenames
	return errs
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
// The error, if any, is an Errors. Documents are returned even then, so a
// caller can validate them too and report all problems at once: those
// with problems of their own are marked Incomplete, with what could not be
// read left out. After an error, no document may be stored. Decode returns
// no documents and no error for an input with no objects in it.
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
		// In line order: a document's conversion errors come after its
		// walk's. Those without a line (too many problems) stay last.
		errs := d.report.errs
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i].Line, errs[j].Line
			return a > 0 && (b == 0 || a < b)
		})
		return d.docs, errs
	}
	return d.docs, nil
}

type decoder struct {
	source string
	data   []byte
	docs   []*Document
	index  int
	report *report

	counted, lines int // linesBefore's progress: lines in data[:counted]
	types          map[reflect.Type]*structFields
}

// object decodes one object: a Function (or Service), a Trigger (or
// PingSource, KafkaSource) or a list of them.
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
	if d.report.stopped {
		return // out of budget, or enough problems: stop here
	}
	// With problems, the walker left out what it could not read; what
	// remains is still validated, so that one answer lists every problem.
	doc.Incomplete, doc.unread = w.failed, w.unread
	obj := reflect.New(k.typ).Interface()
	dec := json.NewDecoder(&w.out)
	dec.DisallowUnknownFields() // the walker wrote only known fields; this is a guard
	if err := dec.Decode(obj); err != nil {
		if !doc.Incomplete {
			w.fail(n, "", "internal error decoding the checked manifest: "+err.Error())
		}
		return
	}
	if errs := k.store(doc, obj); len(errs) > 0 {
		for _, e := range doc.Errors(errs) {
			d.report.add(e)
		}
		return
	}
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
