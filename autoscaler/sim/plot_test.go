package sim

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWritePlotFile draws one shipped trace as SVG and PNG: each file must
// exist, start like its format, and (SVG) be the same bytes twice.
func TestWritePlotFile(t *testing.T) {
	tr, err := ReadFile(filepath.Join(tracesDir, "spike.csv"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(tr, goldenOptions("spike"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, magic string }{
		{"spike.svg", "<?xml"},
		{"spike.png", "\x89PNG"},
	} {
		path := filepath.Join(dir, tc.name)
		if err := WritePlotFile(path, res); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 1000 || !strings.HasPrefix(string(b), tc.magic) {
			t.Errorf("%s: %d bytes starting %q, want a %s file", tc.name, len(b), b[:min(len(b), 8)], tc.magic)
		}
	}
	var a, b bytes.Buffer
	if err := WritePlot(&a, res, PlotSVG); err != nil {
		t.Fatal(err)
	}
	if err := WritePlot(&b, res, PlotSVG); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two SVG plots of the same result differ")
	}
	for _, want := range []string{"panic", "queued", "desired (ready + starting)"} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("SVG has no %q in its legend", want)
		}
	}
}

func TestWritePlotFileRejectsOtherFormats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plot.pdf")
	err := WritePlotFile(path, &Result{})
	if err == nil || !strings.Contains(err.Error(), "must end in .svg or .png") {
		t.Fatalf("WritePlotFile(%s) = %v, want an error naming the formats", path, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s was created despite the error", path)
	}
}
