package sim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// TestWakeLinksNoPlotFonts keeps font files out of the wake binary: the
// plot draws its text with one embedded font (Go Regular, 145 kB), where
// gonum.org/v1/plot linked twelve Liberation fonts (4.4 MB) through an
// init function, whether or not anything was ever plotted.
func TestWakeLinksNoPlotFonts(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the binary's packages")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/wakefn/wake/cmd/wake").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/wakefn/wake/autoscaler/sim") {
		t.Fatalf("go list -deps ./cmd/wake does not list autoscaler/sim: %q", deps)
	}
	for _, p := range deps {
		// gonum.org/v1/plot itself registers the Liberation fonts in its init.
		if strings.Contains(p, "go-fonts/") || strings.Contains(p, "/font/liberation") || p == "gonum.org/v1/plot" {
			t.Errorf("wake links %s: the plot must not pull in fonts beyond its one", p)
		}
	}
}

// TestWritePlotDrawsText draws with the one embedded font: the PNG has
// ink where the title and the turned y labels go, and the SVG is
// well-formed XML with its text turned the same way.
func TestWritePlotDrawsText(t *testing.T) {
	res := spikeResult(t)
	var b bytes.Buffer
	if err := WritePlot(&b, res, PlotPNG); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got.X != plotWidth || got.Y != plotHeight {
		t.Fatalf("the PNG is %v, want %dx%d", got, plotWidth, plotHeight)
	}
	ink := func(x0, y0, x1, y1 int) int {
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				if r, g, b, _ := img.At(x, y).RGBA(); r+g+b < 3*0x8000 {
					n++
				}
			}
		}
		return n
	}
	if n := ink(0, 0, plotWidth, 30); n < 500 {
		t.Errorf("%d dark pixels in the title's band, want the title's text", n)
	}
	if n := ink(0, 0, 30, plotHeight); n < 500 {
		t.Errorf("%d dark pixels left of the axes, want the y labels' text", n)
	}

	b.Reset()
	if err := WritePlot(&b, res, PlotSVG); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	d := xml.NewDecoder(&b)
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
	}
	for _, want := range []string{`transform="rotate(-90`, ">instances</text>", ">time (s)</text>", "spike.csv: concurrency target 7 per instance"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG has no %q", want)
		}
	}
}

func spikeResult(t *testing.T) *Result {
	t.Helper()
	tr, err := ReadFile(filepath.Join(tracesDir, "spike.csv"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(tr, goldenOptions("spike"))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		top   float64
		n     int
		whole bool
		want  []string
	}{
		{"a 4-minute trace", 240, 12, false, []string{"0", "20", "40", "60", "80", "100", "120", "140", "160", "180", "200", "220", "240"}},
		{"instances", 53.75, 5, true, []string{"0", "20", "40"}},
		{"one instance", 1.25, 5, true, []string{"0", "1"}},
		{"fractions", 1.25, 5, false, []string{"0", "0.5", "1"}},
		{"no float noise", 0.3, 3, false, []string{"0", "0.1", "0.2", "0.3"}},
		{"a day", 86400, 12, false, []string{"0", "10000", "20000", "30000", "40000", "50000", "60000", "70000", "80000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, tk := range ticks(tc.top, tc.n, tc.whole) {
				got = append(got, tk.label)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ticks(%g, %d, %v) (-want +got):\n%s", tc.top, tc.n, tc.whole, diff)
			}
		})
	}
}
