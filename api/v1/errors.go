package v1

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FieldError is one problem a user can fix: where it is (file, line, field
// path) and what is wrong, in a short lower-case sentence that says what is
// allowed and what was given.
type FieldError struct {
	Source  string `json:"source,omitempty"` // file name given to Decode, "" if none
	Line    int    `json:"line,omitempty"`   // 1-based, 0 if unknown
	Path    string `json:"path,omitempty"`   // e.g. spec.traffic[1].percent
	Message string `json:"message"`          // e.g. must be between 0 and 100, got 140
}

// String renders the error the way compilers do, so editors can jump to it:
//
//	hello.yaml:14: spec.traffic[1].percent: must be between 0 and 100, got 140
//
// Without a source the position reads "line 14: "; without a line it is
// just the source, if any; without a path the message follows the position.
func (e FieldError) String() string {
	var b strings.Builder
	switch {
	case e.Source != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.Source, e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	case e.Source != "":
		b.WriteString(e.Source + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in one input. It is an error so callers can
// return it as one; the admin API can also send it as JSON, one object per
// problem.
type Errors []FieldError

// Error renders one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.String()
	}
	return strings.Join(lines, "\n")
}

// NewErrors renders field errors with no source or line, for objects that
// did not come from a file (a JSON body built in code, a stored function).
// It returns nil for an empty list.
func NewErrors(list field.ErrorList) Errors {
	return positionErrors(list, "", func(string) int { return 0 })
}

// positionErrors renders list, placing each error with line.
func positionErrors(list field.ErrorList, source string, line func(path string) int) Errors {
	if len(list) == 0 {
		return nil
	}
	out := make(Errors, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		out = append(out, FieldError{Source: source, Line: line(e.Field), Path: e.Field, Message: message(e)})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// message renders a field.Error as a plain sentence. field.Error.Error()
// would print "Invalid value: 140: must be between 0 and 100"; users get
// "must be between 0 and 100, got 140". Validation code in this package
// writes Detail as that sentence without the value; this adds the value.
func message(e *field.Error) string {
	got := ""
	if v, ok := formatValue(e.BadValue); ok {
		got = ", got " + v
	}
	switch e.Type {
	case field.ErrorTypeRequired:
		// A detail that is already a sentence about being required
		// ("is required in embedded mode: ...") stands alone.
		switch {
		case e.Detail == "":
			return "is required"
		case strings.HasPrefix(e.Detail, "is required"):
			return e.Detail
		default:
			return "is required: " + e.Detail
		}
	case field.ErrorTypeForbidden:
		if e.Detail == "" {
			return "is not allowed"
		}
		return e.Detail
	case field.ErrorTypeInvalid, field.ErrorTypeTypeInvalid:
		if e.Detail == "" {
			return "is invalid" + got
		}
		return e.Detail + got
	case field.ErrorTypeNotSupported:
		if allowed, ok := strings.CutPrefix(e.Detail, "supported values: "); ok {
			return "must be one of " + allowed + got
		}
		if e.Detail == "" {
			return "is not supported" + got
		}
		return "is not supported: " + e.Detail + got
	case field.ErrorTypeDuplicate:
		if e.Detail != "" {
			return e.Detail
		}
		if v, ok := formatValue(e.BadValue); ok {
			return "must be unique, got " + v + " more than once"
		}
		return "must be unique"
	case field.ErrorTypeNotFound:
		if e.Detail != "" {
			return e.Detail
		}
		return "not found" + got
	case field.ErrorTypeTooLong, field.ErrorTypeTooShort, field.ErrorTypeTooMany, field.ErrorTypeTooFew:
		return e.Detail + got
	case field.ErrorTypeInternal:
		return "internal error: " + e.Detail
	}
	if e.Detail == "" {
		return "is invalid" + got
	}
	return e.Detail + got
}

// maxValueLen bounds how much of a bad value an error repeats: enough to
// recognise it, not a screenful of someone's pasted certificate.
const maxValueLen = 80

// formatValue renders a bad value the way a user wrote it: strings quoted,
// numbers and bools plain. It reports false when there is nothing worth
// showing (no value, or one apimachinery marked as omitted).
func formatValue(v any) (string, bool) {
	switch t := v.(type) {
	case nil, field.OmitValueType:
		return "", false
	case string:
		if t == "<value omitted>" { // what field.TooLong stores
			return "", false
		}
		return quote(t), true
	case error:
		return quote(t.Error()), true
	case fmt.Stringer:
		return quote(t.String()), true
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'g', -1, 64), true
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), true
	case reflect.String:
		return quote(rv.String()), true
	}
	b, err := json.Marshal(rv.Interface())
	if err != nil {
		return "", false
	}
	return truncate(string(b)), true
}

// quote quotes s as Go would, shortened to maxValueLen.
func quote(s string) string {
	if len(s) > maxValueLen {
		return strconv.Quote(truncate(s)) // "aaaa...": still recognisably a string
	}
	return strconv.Quote(s)
}

// truncate shortens s to about maxValueLen bytes, on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
