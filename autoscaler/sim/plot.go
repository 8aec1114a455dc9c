package sim

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot formats, by file extension.
const (
	PlotSVG = "svg"
	PlotPNG = "png"
)

// The plot's size: wide enough that a 10-minute trace shows single
// decisions, two panels tall.
const plotWidth, plotHeight = 11 * vg.Inch, 7 * vg.Inch

var (
	loadColor    = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff} // blue
	queueColor   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff} // red
	desiredColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff} // orange
	readyColor   = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff} // green
	panicColor   = color.RGBA{R: 0xff, G: 0xd8, B: 0xd8, A: 0xff} // pale red
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
// format is PlotSVG (the same result gives the same bytes) or PlotPNG.
func WritePlot(w io.Writer, r *Result, format string) error {
	if len(r.Timeline) == 0 {
		return fmt.Errorf("nothing to plot: the result has no timeline")
	}
	load, err := loadPanel(r)
	if err != nil {
		return err
	}
	instances, err := instancePanel(r)
	if err != nil {
		return err
	}
	var canvas vg.CanvasWriterTo
	switch format {
	case PlotSVG:
		canvas = vgsvg.New(plotWidth, plotHeight)
	case PlotPNG:
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(plotWidth, plotHeight)}
	default:
		return fmt.Errorf("plot format %q: must be %s or %s", format, PlotSVG, PlotPNG)
	}
	panels := [][]*plot.Plot{{load}, {instances}}
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	canvases := plot.Align(panels, tiles, draw.New(canvas))
	for i, row := range panels {
		row[0].Draw(canvases[i][0])
	}
	_, err = canvas.WriteTo(w)
	return err
}

func loadPanel(r *Result) (*plot.Plot, error) {
	p := newPanel(r, "requests in flight + queued")
	p.Title.Text = fmt.Sprintf("%s: %s target %.4g per instance, containerConcurrency %s, start-up %s",
		filepath.Base(r.Trace), r.Spec.Metric, r.Spec.TargetValue, limitText(r), startupText(r))
	load, err := stepLine(r, func(pt Point) float64 { return pt.Load }, loadColor)
	if err != nil {
		return nil, err
	}
	queue, err := stepLine(r, func(pt Point) float64 { return pt.Queue }, queueColor)
	if err != nil {
		return nil, err
	}
	p.Add(load, queue)
	p.Legend.Add("load", load)
	p.Legend.Add("queued", queue)
	headroom(p)
	return p, nil
}

func instancePanel(r *Result) (*plot.Plot, error) {
	p := newPanel(r, "instances")
	p.X.Label.Text = "time (s)"
	desired, err := stepLine(r, func(pt Point) float64 { return float64(pt.Desired) }, desiredColor)
	if err != nil {
		return nil, err
	}
	ready, err := stepLine(r, func(pt Point) float64 { return float64(pt.Ready) }, readyColor)
	if err != nil {
		return nil, err
	}
	// Instances start as soon as they are desired, so the gap between
	// the two lines is the instances starting.
	p.Add(desired, ready)
	p.Legend.Add("desired (ready + starting)", desired)
	p.Legend.Add("ready", ready)
	headroom(p)
	return p, nil
}

// newPanel is a plot over the run's time with the panic periods shaded.
func newPanel(r *Result, yLabel string) *plot.Plot {
	p := plot.New()
	p.Y.Label.Text = yLabel
	p.X.Min, p.X.Max = 0, r.Duration.Seconds()
	p.Y.Min = 0
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	if bands := panicBands(r); len(bands.spans) > 0 {
		p.Add(bands)
		p.Legend.Add("panic", bands)
	}
	return p
}

// headroom raises the top of a panel above its data, to keep the legend
// (top right) off the lines, and gives an all-zero panel a scale.
func headroom(p *plot.Plot) {
	p.Y.Max = math.Max(1, p.Y.Max*1.25)
}

// stepLine draws one timeline series, each second's value held across it.
func stepLine(r *Result, value func(Point) float64, c color.Color) (*plotter.Line, error) {
	xys := make(plotter.XYs, 0, len(r.Timeline)+1)
	for _, pt := range r.Timeline {
		xys = append(xys, plotter.XY{X: pt.At.Seconds(), Y: value(pt)})
	}
	// Close the last second: a step line ends at its last point.
	xys = append(xys, plotter.XY{X: r.Duration.Seconds(), Y: xys[len(xys)-1].Y})
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.StepStyle = plotter.PostStep
	l.Color = c
	l.Width = vg.Points(1.5)
	return l, nil
}

// bands shades spans of time across the whole height of a panel. It has
// no data range of its own, so it never stretches an axis.
type bands struct {
	spans [][2]float64 // [from, to) in seconds
	color color.Color
}

var (
	_ plot.Plotter     = bands{}
	_ plot.Thumbnailer = bands{}
)

// panicBands are the seconds the revision was panicking in.
func panicBands(r *Result) bands {
	b := bands{color: panicColor}
	for i, pt := range r.Timeline {
		if !pt.Panicking {
			continue
		}
		end := r.Duration.Seconds()
		if i+1 < len(r.Timeline) {
			end = r.Timeline[i+1].At.Seconds()
		}
		if n := len(b.spans); n > 0 && b.spans[n-1][1] == pt.At.Seconds() {
			b.spans[n-1][1] = end
			continue
		}
		b.spans = append(b.spans, [2]float64{pt.At.Seconds(), end})
	}
	return b
}

func (b bands) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	for _, s := range b.spans {
		x0, x1 := x(s[0]), x(s[1])
		c.FillPolygon(b.color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

func (b bands) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(b.color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}
