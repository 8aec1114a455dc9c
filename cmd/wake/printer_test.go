package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/google/go-cmp/cmp"
)

// TestTableAsTabwriter checks table against text/tabwriter, which wake
// get's tables used before it, on random rows: the same columns, less
// the spaces tabwriter leaves at the end of a line whose last cells are
// empty.
func TestTableAsTabwriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "-", "a", "hello", "hello-00001", "90%", "10% #canary", "Unknown", "ünïcödé", "cron \"0 3 * * *\" Europe/Paris"}
	for i := range 200 {
		cols := 1 + r.IntN(6)
		rows := make([][]string, 1+r.IntN(5))
		for j := range rows {
			rows[j] = make([]string, cols)
			for k := range rows[j] {
				rows[j][k] = words[r.IntN(len(words))]
			}
		}
		var want strings.Builder
		tw := tabwriter.NewWriter(&want, 0, 4, 3, ' ', 0)
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
		var trimmed []string
		for _, line := range strings.SplitAfter(want.String(), "\n") {
			trimmed = append(trimmed, strings.TrimRight(strings.TrimSuffix(line, "\n"), " "))
		}
		var got strings.Builder
		if err := (&table{w: &got}).write(rows...); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(strings.Join(trimmed[:len(trimmed)-1], "\n")+"\n", got.String()); diff != "" {
			t.Fatalf("case %d, rows %q (-tabwriter +table):\n%s", i, rows, diff)
		}
	}
}

func TestTrimWriter(t *testing.T) {
	var out strings.Builder
	w := &trimWriter{w: &out}
	for _, chunk := range []string{"Name:  hello  ", "\nReady:\tTrue \t\n", "\n", "  indented  \nlast  "} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "Name:  hello\nReady:\tTrue\n\n  indented\nlast"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseOutput(t *testing.T) {
	for _, tc := range []struct{ in, kind, err string }{
		{"", "table", ""},
		{"table", "table", ""},
		{"wide", "wide", ""},
		{"name", "name", ""},
		{"jsonpath={.metadata.name}", "jsonpath", ""},
		{"jsonpath=", "", "-o jsonpath= needs a template"},
		{"jsonpath={.a[", "", `-o jsonpath: template "{.a["`},
		{"go-template={{.}}", "", `got "go-template={{.}}"`},
	} {
		f, err := parseOutput(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("-o %q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || f.kind != tc.kind {
			t.Errorf("-o %q: %q, %v; want %q", tc.in, f.kind, err, tc.kind)
		}
	}
}

func TestPrintJSONPath(t *testing.T) {
	f, err := parseOutput(`jsonpath={.n} {.f} {.big} {.labels} {.missing}{.items[?(@.n==2)].name}`)
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{"n": 120, "f": 0.5, "big": int64(1) << 60, "labels": map[string]string{"app": "shop"},
		"items": []map[string]any{{"n": 1, "name": "one"}, {"n": 2, "name": "two"}}}
	var out strings.Builder
	if err := f.printValue(&out, v); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), `120 0.5 1152921504606846976 {"app":"shop"} two`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
