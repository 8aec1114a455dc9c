package sim

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Plot formats, by file extension.
const (
	PlotSVG = "svg"
	PlotPNG = "png"
)

// The plot's size in pixels, 11 by 7 inches at 96 to the inch: wide
// enough that a 10-minute trace shows single decisions, two panels tall.
const plotWidth, plotHeight = 1056, 672

var (
	loadColor    = color.NRGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	queueColor   = color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	desiredColor = color.NRGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	readyColor   = color.NRGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
	panicColor   = color.NRGBA{R: 0xff, G: 0xd8, B: 0xd8, A: 0xff} // pale red
)

// WritePlotFile draws the result (see WritePlot) into the file at path,
// as SVG or PNG by its extension.
func WritePlotFile(path string, r *Result) error {
	format, err := PlotFormatOf(path)
	if err != nil {
		return err
	}
	// Draw before creating the file, so a failure leaves nothing behind.
	var buf bytes.Buffer
	if err := WritePlot(&buf, r, format); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing plot: %w", err)
	}
	return nil
}

// PlotFormatOf is the plot format a file name asks for, by its extension.
func PlotFormatOf(path string) (string, error) {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if format != PlotSVG && format != PlotPNG {
		return "", fmt.Errorf("plot %s: the name must end in .svg or .png", path)
	}
	return format, nil
}

// WritePlot draws the result as two panels over the same time axis: load
// (requests in flight plus queued) and queue above; desired and ready
// instances below; panic periods shaded in both.
// format is PlotSVG or PlotPNG; the same result gives the same bytes.
//
// The plot is drawn here rather than with a plotting library: it is step
// lines, a grid and text, and the library wake used (gonum.org/v1/plot)
// linked twelve fonts, 5 MB in all, into every wake binary.
func WritePlot(w io.Writer, r *Result, format string) error {
	if len(r.Timeline) == 0 {
		return fmt.Errorf("nothing to plot: the result has no timeline")
	}
	if r.Duration <= 0 {
		return fmt.Errorf("nothing to plot: the result lasts %v", r.Duration)
	}
	if format != PlotSVG && format != PlotPNG {
		return fmt.Errorf("plot format %q: must be %s or %s", format, PlotSVG, PlotPNG)
	}
	fonts, err := newFonts()
	if err != nil {
		return err
	}
	ch := chart{
		title: fmt.Sprintf("%s: %s target %.4g per instance, containerConcurrency %s, start-up %s",
			filepath.Base(r.Trace), r.Spec.Metric, r.Spec.TargetValue, limitText(r), startupText(r)),
		xLabel:  "time (s)",
		seconds: r.Duration.Seconds(),
		panels:  []panel{loadPanel(r), instancePanel(r)},
		fonts:   fonts,
	}
	switch format {
	case PlotSVG:
		c := newSVG(plotWidth, plotHeight)
		ch.draw(c, plotWidth, plotHeight)
		_, err = w.Write(c.bytes())
		return err
	default:
		c := newPNG(plotWidth, plotHeight)
		ch.draw(c, plotWidth, plotHeight)
		return png.Encode(w, c.img)
	}
}

func loadPanel(r *Result) panel {
	p := panel{yLabel: "requests in flight + queued", bands: panicBands(r)}
	p.add("load", loadColor, r, func(pt Point) float64 { return pt.Load })
	p.add("queued", queueColor, r, func(pt Point) float64 { return pt.Queue })
	return p
}

func instancePanel(r *Result) panel {
	// Instances start as soon as they are desired, so the gap between
	// the two lines is the instances starting.
	p := panel{yLabel: "instances", bands: panicBands(r), whole: true}
	p.add("desired (ready + starting)", desiredColor, r, func(pt Point) float64 { return float64(pt.Desired) })
	p.add("ready", readyColor, r, func(pt Point) float64 { return float64(pt.Ready) })
	return p
}

// add draws one timeline series as a step line, each second's value held
// across it, and raises the panel's top to keep a quarter of headroom
// above it for the legend (top right).
func (p *panel) add(label string, c color.NRGBA, r *Result, value func(Point) float64) {
	s := series{label: label, color: c}
	for _, pt := range r.Timeline {
		s.at = append(s.at, pt.At.Seconds())
		s.values = append(s.values, value(pt))
		p.top = math.Max(p.top, value(pt)*1.25)
	}
	// An all-zero panel still gets a scale.
	p.top = math.Max(p.top, 1)
	p.series = append(p.series, s)
}

// panicBands are the spans of seconds, [from, to), the revision was
// panicking in.
func panicBands(r *Result) [][2]float64 {
	var spans [][2]float64
	for i, pt := range r.Timeline {
		if !pt.Panicking {
			continue
		}
		end := r.Duration.Seconds()
		if i+1 < len(r.Timeline) {
			end = r.Timeline[i+1].At.Seconds()
		}
		if n := len(spans); n > 0 && spans[n-1][1] == pt.At.Seconds() {
			spans[n-1][1] = end
			continue
		}
		spans = append(spans, [2]float64{pt.At.Seconds(), end})
	}
	return spans
}
