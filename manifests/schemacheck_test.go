package manifests

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// schemaCheck compares a Go type with an OpenAPI schema through the
// type's json tags, both ways: every Go field has a property of a
// compatible type, and every property a Go field. It is how the CRDs and
// api/v1 are kept from drifting apart.
type schemaCheck struct {
	// exceptions are paths (spec.template.metadata, status.coldStarts)
	// left out of the comparison, each with its reason. An exception that
	// matches nothing is itself a problem: it would hide a later drift.
	exceptions map[string]string
	used       map[string]bool
	problems   []string
}

// compare walks t and s from the root of a resource and returns the
// problems found, sorted.
func compare(t reflect.Type, s *apiextv1.JSONSchemaProps, exceptions map[string]string) []string {
	c := &schemaCheck{exceptions: exceptions, used: map[string]bool{}}
	c.value("", t, s)
	for p := range exceptions {
		if !c.used[p] {
			c.problems = append(c.problems, fmt.Sprintf("%s: listed as an exception but neither the Go type nor the schema has it", p))
		}
	}
	sort.Strings(c.problems)
	return c.problems
}

func (c *schemaCheck) fail(path, format string, args ...any) {
	if path == "" {
		path = "(root)"
	}
	c.problems = append(c.problems, path+": "+fmt.Sprintf(format, args...))
}

var (
	timeType        = reflect.TypeFor[metav1.Time]()
	microTimeType   = reflect.TypeFor[metav1.MicroTime]()
	durationType    = reflect.TypeFor[metav1.Duration]()
	quantityType    = reflect.TypeFor[resource.Quantity]()
	intOrStringType = reflect.TypeFor[intstr.IntOrString]()
	objectMetaType  = reflect.TypeFor[metav1.ObjectMeta]()
)

// value compares one Go value's type with its schema.
func (c *schemaCheck) value(path string, t reflect.Type, s *apiextv1.JSONSchemaProps) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s == nil {
		c.fail(path, "no schema for Go type %s", t)
		return
	}
	switch t {
	case timeType, microTimeType:
		c.wantType(path, t, s, "string")
		if s.Format != "date-time" {
			c.fail(path, "%s is an RFC 3339 time: want format date-time, got %q", t, s.Format)
		}
		return
	case durationType:
		c.wantType(path, t, s, "string") // "1m30s"
		return
	case quantityType, intOrStringType:
		if !s.XIntOrString {
			c.fail(path, "%s is an int or a string: want x-kubernetes-int-or-string", t)
		}
		return
	case objectMetaType:
		c.objectMeta(path, s)
		return
	}
	switch t.Kind() {
	case reflect.String:
		c.wantType(path, t, s, "string")
	case reflect.Bool:
		c.wantType(path, t, s, "boolean")
	case reflect.Int32, reflect.Int64:
		c.wantType(path, t, s, "integer")
		if want := "int" + t.Kind().String()[3:]; s.Format != "" && s.Format != want {
			c.fail(path, "Go %s: want format %s, got %q", t, want, s.Format)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		c.wantType(path, t, s, "integer")
	case reflect.Float32, reflect.Float64:
		c.wantType(path, t, s, "number")
	case reflect.Slice:
		c.wantType(path, t, s, "array")
		if s.Items == nil || s.Items.Schema == nil {
			c.fail(path, "an array needs items")
			return
		}
		c.value(path+"[]", t.Elem(), s.Items.Schema)
	case reflect.Map:
		c.wantType(path, t, s, "object")
		if t.Key().Kind() != reflect.String {
			c.fail(path, "map key %s is not a string", t.Key())
		}
		if s.AdditionalProperties == nil || s.AdditionalProperties.Schema == nil {
			c.fail(path, "Go map %s: want additionalProperties with a schema", t)
			return
		}
		c.value(path+"{}", t.Elem(), s.AdditionalProperties.Schema)
	case reflect.Struct:
		c.wantType(path, t, s, "object")
		c.object(path, t, s)
	default:
		c.fail(path, "Go kind %s has no JSON schema this check knows", t.Kind())
	}
}

func (c *schemaCheck) wantType(path string, t reflect.Type, s *apiextv1.JSONSchemaProps, want string) {
	if s.Type != want {
		c.fail(path, "Go %s wants schema type %s, got %q", t, want, s.Type)
	}
}

// object compares a struct's json fields with the schema's properties.
func (c *schemaCheck) object(path string, t reflect.Type, s *apiextv1.JSONSchemaProps) {
	if s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields {
		c.fail(path, "Go struct %s is not free-form: x-kubernetes-preserve-unknown-fields would accept anything", t)
	}
	fields := jsonFields(t)
	for _, name := range sortedNames(fields) {
		p := join(path, name)
		if c.exception(p) {
			continue
		}
		prop, ok := s.Properties[name]
		if !ok {
			c.fail(p, "Go field %s.%s has no schema property: the API server would drop it", t.Name(), fields[name].Name)
			continue
		}
		c.value(p, fields[name].Type, &prop)
	}
	for _, name := range sortedNames(s.Properties) {
		p := join(path, name)
		if _, ok := fields[name]; !ok && !c.exception(p) {
			c.fail(p, "schema property has no field in Go %s: the controller would never read it", t)
		}
	}
	for _, r := range s.Required {
		if _, ok := s.Properties[r]; !ok {
			c.fail(join(path, r), "required but not a property")
		}
	}
}

// objectMeta checks a metadata schema: the API server owns the root's and
// a template's is whatever subset of ObjectMeta it names, so only that
// direction is checked (every property is an ObjectMeta field of its type).
func (c *schemaCheck) objectMeta(path string, s *apiextv1.JSONSchemaProps) {
	c.wantType(path, objectMetaType, s, "object")
	fields := jsonFields(objectMetaType)
	for _, name := range sortedNames(s.Properties) {
		f, ok := fields[name]
		if !ok {
			c.fail(join(path, name), "schema property is not an ObjectMeta field")
			continue
		}
		prop := s.Properties[name]
		c.value(join(path, name), f.Type, &prop)
	}
}

func (c *schemaCheck) exception(path string) bool {
	if _, ok := c.exceptions[path]; ok {
		c.used[path] = true
		return true
	}
	return false
}

// jsonFields returns a struct's fields by JSON name, with inline and
// embedded structs flattened as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, sub := range jsonFields(ft) {
					if _, shadowed := out[n]; !shadowed {
						out[n] = sub
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
