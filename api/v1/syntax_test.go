package v1

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSyntaxErrors: a YAML syntax error is told in plain words, on the
// line that is wrong (yaml.v3 names the line a construct began on, and its
// parser's lines are 0-based), with tabs and missing quotes named.
func TestSyntaxErrors(t *testing.T) {
	const head = "apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n"
	tests := []struct {
		name, input string
		want        []string
	}{{
		name:  "tab indentation",
		input: head + "\tname: hello\nspec: {}\n",
		want:  []string{"in.yaml:4: tab character used for indentation at line 4, column 1; YAML indents with spaces"},
	}, {
		// yaml.v3: "line 4: found a tab character that violates indentation"
		name:  "tab under a plain value",
		input: head + "  name: hello\n\tlabels: {}\n",
		want:  []string{"in.yaml:5: tab character used for indentation at line 5, column 1; YAML indents with spaces"},
	}, {
		name:  "tab after spaces",
		input: head + "  name: hello\nspec:\n  template:\n  \tspec: {}\n",
		want:  []string{"in.yaml:7: tab character used for indentation at line 7, column 3; YAML indents with spaces"},
	}, {
		// yaml.v3: "line 3: did not find expected key", the line before
		// the quote: its parser counts lines from 0.
		name:  "unclosed quote closed by a later one",
		input: head + "  name: \"hello\nspec:\n  template:\n    spec:\n      containers:\n        - command: [\"./hello\"]\n",
		want:  []string{`in.yaml:4: the string opened with " at line 4, column 9 runs on to line 9, where the YAML breaks; is its closing " missing?`},
	}, {
		name:  "unclosed quote",
		input: head + "  name: \"hello\nspec:\n  template: {}\n",
		want:  []string{`in.yaml:4: the string opened with " at line 4, column 9 is never closed; add the closing "`},
	}, {
		// yaml.v3: "line 3: found unexpected end of stream", the end.
		name:  "unclosed quote on the first line",
		input: "a: 'abc\nb: 3\n",
		want:  []string{"in.yaml:1: the string opened with ' at line 1, column 4 is never closed; add the closing '"},
	}, {
		name:  "quotes in a block scalar are text",
		input: "a: |\n  it's \"quoted\n  x\nb: 'x\n",
		want:  []string{"in.yaml:4: the string opened with ' at line 4, column 4 is never closed; add the closing '"},
	}, {
		// yaml.v3: "line 6: did not find expected key".
		name:  "key indented between two levels",
		input: head + "  name: hello\nspec:\n  template:\n    spec:\n      containers:\n      - image: x\n     timeoutSeconds: 3\n",
		want:  []string{"in.yaml:10: bad indentation: this line is indented 5 spaces, but the keys of the map that starts at line 7 are indented 4"},
	}, {
		// yaml.v3: "line 2: did not find expected key".
		name:  "key indented less than its map",
		input: head + "  name: hello\n labels: {}\n",
		want:  []string{"in.yaml:5: bad indentation: this line does not line up with the keys of the map above it"},
	}, {
		// yaml.v3: "line 1: did not find expected '-' indicator".
		name:  "key among list items",
		input: "a:\n  - x\n  y: 1\n",
		want:  []string{`in.yaml:3: bad indentation: this line is indented like the items of the list that starts at line 2, but is not an item ("- ")`},
	}, {
		name:  "colon in a plain value",
		input: head + "  name: hello\n  annotations:\n    note: see: here\n",
		want:  []string{`in.yaml:6: the value of note holds ": ", which YAML reads as the start of a map; put the value in quotes`},
	}, {
		name:  "key indented under a plain value",
		input: head + "  name: hello\n    labels: {}\n",
		want:  []string{"in.yaml:5: bad indentation: this line is indented under one whose value is not a map"},
	}, {
		// yaml.v3: "line 1: did not find expected ',' or ']'".
		name:  "unclosed flow list",
		input: head + "  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - command: [\"./hello\", \"--port\"\n          image: x\n",
		want:  []string{`in.yaml:9: a list in [ ] is not closed with "]", or lacks a "," between items`},
	}, {
		name:  "reserved character",
		input: head + "  name: hello\n  labels:\n    owner: @team\n",
		want:  []string{"in.yaml:6: '@' cannot start a value in YAML (it is reserved) at line 6, column 12; put the value in quotes"},
	}, {
		name:  "unknown anchor",
		input: head + "  name: hello\n  labels: *common\n",
		want:  []string{"in.yaml:5: *common refers to no anchor: define it above with &common"},
	}, {
		name:  "windows line ends",
		input: strings.ReplaceAll(head+"  name: hello\n labels: {}\n", "\n", "\r\n"),
		want:  []string{"in.yaml:5: bad indentation: this line does not line up with the keys of the map above it"},
	}, {
		// Lines count from the start of the file, not of the document.
		name:  "in a later document",
		input: fn("a") + "---\n" + head + "\tname: b\n",
		want:  []string{"in.yaml:14: tab character used for indentation at line 14, column 1; YAML indents with spaces"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := decode(t, "in.yaml", []byte(tt.input))
			if diff := cmp.Diff(tt.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailingLineIsCheap: finding the broken line parses a few prefixes,
// not one per line (30,000 here), so a large manifest broken at its end
// still decodes at once.
func TestFailingLineIsCheap(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: wake.dev/v1\nkind: Function\nmetadata:\n  labels:\n")
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString("    label-" + strconv.Itoa(i) + ": value\n")
	}
	b.WriteString("\tname: x\n")
	in := b.String()
	line := strconv.Itoa(strings.Count(in, "\n"))
	_, _, errs := decode(t, "in.yaml", []byte(in))
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "in.yaml:"+line+": tab character used for indentation at line "+line) {
		t.Errorf("errors = %q, want a tab at line %s", errs, line)
	}
}
