package v1

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Struct fields as encoding/json sees them, and the messages for fields a
// type does not have.

// unsupported names Kubernetes and Knative fields that wake's types do not
// have, so that a Knative manifest using one is told so plainly instead of
// "unknown field".
var unsupported = map[reflect.Type][]string{
	reflect.TypeFor[RevisionSpec](): {"volumes", "affinity", "nodeSelector", "tolerations",
		"securityContext", "initContainers", "enableServiceLinks", "runtimeClassName",
		"dnsPolicy", "dnsConfig", "hostAliases", "topologySpreadConstraints",
		"priorityClassName", "schedulerName", "automountServiceAccountToken"},
	reflect.TypeFor[Container](): {"envFrom", "volumeMounts", "lifecycle",
		"terminationMessagePath", "terminationMessagePolicy", "stdin", "tty"},
	reflect.TypeFor[EnvVar]():      {"valueFrom"},
	reflect.TypeFor[Probe]():       {"exec", "grpc", "terminationGracePeriodSeconds"},
	reflect.TypeFor[Destination](): {"CACerts", "audience"},
}

// refused explains fields left out on purpose, by type and name.
var refused = map[reflect.Type]map[string]string{
	reflect.TypeFor[KafkaSASL](): {"password": "is not accepted: a password in a manifest ends up in version control and `wake get`; use passwordFile or passwordSecret"},
}

// isUnsupported tells whether name is one of t's unsupported fields.
func isUnsupported(t reflect.Type, name string) bool {
	for _, u := range unsupported[t] {
		if u == name {
			return true
		}
	}
	return false
}

// unknown explains a field t does not have, with value as written: a
// misspelling of one it has, or one of an object around or inside it,
// indented at the wrong depth. meant is the path of the field the user
// probably meant, if any.
func (w *walker) unknown(t reflect.Type, fields *structFields, name string, value *yaml.Node) (msg, meant string) {
	if isUnsupported(t, name) {
		return "is not supported by wake", ""
	}
	if why, ok := refused[t][name]; ok {
		return why, ""
	}
	here := w.frames[len(w.frames)-1].path
	if s := suggest(name, fields.names); s != "" {
		return fmt.Sprintf("unknown field; did you mean %q?", s), join(here, s)
	}
	if hint, meant := w.misplaced(name, value); hint != "" {
		return hint, meant
	}
	return "unknown field", ""
}

// structFields are the JSON fields of a struct type, by name.
type structFields struct {
	byName map[string]reflect.Type
	names  []string // in declaration order, for suggestions
}

// fieldsOf lists t's JSON fields as encoding/json sees them: exported
// fields by their json tag name, and the fields of an embedded struct with
// no tag name (metav1.TypeMeta `json:",inline"`) as t's own.
func (w *walker) fieldsOf(t reflect.Type) *structFields {
	if f, ok := w.types[t]; ok {
		return f
	}
	f := &structFields{byName: map[string]reflect.Type{}}
	// Breadth first, so that a field declared in t wins over one of the
	// same name in a struct it embeds, as in encoding/json.
	level := []reflect.Type{t}
	for depth := 0; len(level) > 0 && depth < 8; depth++ {
		var next []reflect.Type
		for _, t := range level {
			for i := 0; i < t.NumField(); i++ {
				sf := t.Field(i)
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, _, _ := strings.Cut(tag, ",")
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					next = append(next, ft)
					continue
				}
				if !sf.IsExported() {
					continue
				}
				if name == "" {
					name = sf.Name
				}
				if _, dup := f.byName[name]; !dup {
					f.byName[name] = sf.Type
					f.names = append(f.names, name)
				}
			}
		}
		level = next
	}
	w.types[t] = f
	return f
}

// suggest returns the known name closest to a misspelt one, if any is
// close: same letters in another case, or at most two edits away.
func suggest(name string, names []string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return n
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(n)); d < bestDist && d < len(n)/2+1 {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
