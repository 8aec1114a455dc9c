package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"k8s.io/client-go/util/jsonpath"

	api "github.com/wakefn/wake/api/v1"
)

// How the CLI prints objects, as kubectl does: the formats of -o, tables
// whose columns stay lined up across writes (wake get -w), names as
// `-o name` prints them, and JSONPath templates.

// outputFormat is a parsed -o.
type outputFormat struct {
	kind     string             // table, wide, json, yaml, name or jsonpath
	jsonpath *jsonpath.JSONPath // for jsonpath
}

// parseOutput reads -o: table, wide, json, yaml, name or jsonpath=TEMPLATE.
func parseOutput(s string) (outputFormat, error) {
	switch s {
	case "", "table":
		return outputFormat{kind: "table"}, nil
	case "wide", "json", "yaml", "name":
		return outputFormat{kind: s}, nil
	case "jsonpath":
		return outputFormat{}, fmt.Errorf("-o jsonpath needs a template: -o jsonpath='{.items[*].metadata.name}'")
	}
	if tmpl, ok := strings.CutPrefix(s, "jsonpath="); ok {
		if tmpl == "" {
			return outputFormat{}, fmt.Errorf("-o jsonpath= needs a template: -o jsonpath='{.items[*].metadata.name}'")
		}
		// kubectl's defaults: a key an object lacks prints nothing
		// rather than failing the command.
		j := jsonpath.New("output").AllowMissingKeys(true)
		if err := j.Parse(tmpl); err != nil {
			return outputFormat{}, fmt.Errorf("-o jsonpath: template %q: %v", tmpl, err)
		}
		return outputFormat{kind: "jsonpath", jsonpath: j}, nil
	}
	return outputFormat{}, fmt.Errorf("-o: must be table, wide, json, yaml, name or jsonpath=TEMPLATE, got %q", s)
}

// tabular says whether the format prints table rows.
func (f outputFormat) tabular() bool { return f.kind == "table" || f.kind == "wide" }

// printValue writes v, an object or a list, as -o json, yaml or jsonpath
// asks.
func (f outputFormat) printValue(w io.Writer, v any) error {
	if f.kind == "jsonpath" {
		return printJSONPath(w, f.jsonpath, v)
	}
	return printObject(w, f.kind, v)
}

// printObject writes v as JSON, or as YAML with the same field names.
func printObject(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "json" {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(b, &node); err != nil {
		return err
	}
	blockStyle(&node)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	defer enc.Close()
	return enc.Encode(&node)
}

// blockStyle drops the styles a node parsed from JSON has (flow
// collections, double-quoted strings), so that it is written as block
// YAML, with quotes only where a value needs them.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// printJSONPath runs a template on v's JSON form, as kubectl does: on
// maps and slices, with whole numbers as integers (120, not 1.2e+02),
// and with no newline added.
func printJSONPath(w io.Writer, j *jsonpath.JSONPath, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return err
	}
	if err := j.Execute(w, plainNumbers(data)); err != nil {
		return fmt.Errorf("-o jsonpath: %w", err)
	}
	return nil
}

// plainNumbers turns the json.Numbers of decoded JSON into int64 where
// they are whole and fit, float64 otherwise.
func plainNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = plainNumbers(e)
		}
	}
	return v
}

// qualifiedName is how kubectl names an object of wake's API group in
// `-o name` and in tables of several kinds: function.wake.dev/hello.
func qualifiedName(kind, name string) string { return qualifiedKind(kind) + "/" + name }

// qualifiedKind is a kind of wake's API group as kubectl writes it:
// function.wake.dev.
func qualifiedKind(kind string) string { return strings.ToLower(kind) + "." + api.Group }

// table writes rows of cells lined up in columns as text/tabwriter would
// with a padding of 3, and remembers the columns' widths, so that rows
// written later (wake get -w) line up with those before them; a later,
// wider cell widens its column from then on. Lines end without spaces.
type table struct {
	w      io.Writer
	widths []int
}

// fit widens the columns to hold rows.
func (t *table) fit(rows ...[]string) {
	for _, row := range rows {
		for i, cell := range row {
			if i == len(t.widths) {
				t.widths = append(t.widths, 0)
			}
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(cell))
		}
	}
}

// write fits the columns to rows and writes them.
func (t *table) write(rows ...[]string) error {
	t.fit(rows...)
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", t.widths[i]-utf8.RuneCountInString(cell)+3))
			}
		}
		line := strings.TrimRight(b.String(), " ") + "\n"
		if _, err := io.WriteString(t.w, line); err != nil {
			return err
		}
	}
	return nil
}

// trimWriter drops the spaces and tabs that end each line written
// through it: a tabwriter pads a line's last cells even when they are
// empty. Flush writes a last line that had no newline.
type trimWriter struct {
	w    io.Writer
	line []byte
}

func (t *trimWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.line = append(t.line, p...)
			return n, nil
		}
		t.line = append(bytes.TrimRight(append(t.line, p[:i]...), " \t"), '\n')
		if _, err := t.w.Write(t.line); err != nil {
			return 0, err
		}
		t.line, p = t.line[:0], p[i+1:]
	}
}

// Flush writes what is left of the last line.
func (t *trimWriter) Flush() error {
	if len(t.line) == 0 {
		return nil
	}
	_, err := t.w.Write(bytes.TrimRight(t.line, " \t"))
	t.line = t.line[:0]
	return err
}
