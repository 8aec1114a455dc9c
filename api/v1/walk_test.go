package v1

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFieldsOf checks the walker names fields as encoding/json does.
func TestFieldsOf(t *testing.T) {
	type Inner struct {
		Name  string `json:"name"`
		Inner string `json:"inner,omitempty"`
	}
	type outer struct {
		Inner  `json:",inline"`
		*Probe        // embedded pointer without a tag: inlined too
		Name   string `json:"name"` // shadows Inner's name
		Plain  int
		Hidden string `json:"-"`
		secret string
	}
	_ = outer{}.secret
	w := &walker{types: map[reflect.Type]*structFields{}}
	got := w.fieldsOf(reflect.TypeFor[outer]())
	want := []string{"name", "Plain", "inner", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
		"successThreshold", "failureThreshold", "httpGet", "tcpSocket"}
	if diff := cmp.Diff(want, got.names); diff != "" {
		t.Errorf("fields mismatch (-want +got):\n%s", diff)
	}
	if got.byName["name"] != reflect.TypeFor[string]() {
		t.Errorf("name is %v, want the outer string", got.byName["name"])
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"image", "imagePullPolicy", "command", "args", "env", "containerConcurrency"}
	tests := []struct {
		name, in, want string
	}{
		{"case", "containerconcurrency", "containerConcurrency"},
		{"typo", "imagee", "image"},
		{"transposition", "comamnd", "command"},
		{"missing letter", "ev", "env"},
		{"too different", "cmd", ""},
		{"nothing close", "volumes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggest(tt.in, names); got != tt.want {
				t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
