package sim

import (
	"image/color"
	"math"
	"strconv"
)

// chart is panels stacked over one time axis, from 0 to seconds, with
// their left edges aligned: what WritePlot draws.
type chart struct {
	title   string
	xLabel  string // under the bottom panel
	seconds float64
	panels  []panel
	fonts   fonts
}

// panel is one chart of step lines over time, its y axis from 0 to top.
type panel struct {
	yLabel string
	top    float64
	whole  bool         // ticks at whole numbers only (a count)
	bands  [][2]float64 // spans of seconds shaded in panicColor, labelled "panic"
	series []series
}

// series is a step line: values[i] from at[i] to the next at, the last
// to the end of the chart.
type series struct {
	label  string
	color  color.NRGBA
	at     []float64
	values []float64
}

// fonts are the sizes the chart writes in, in pixels.
type fonts struct{ title, label, tick, legend *face }

func newFonts() (fonts, error) {
	var fs fonts
	for _, f := range []struct {
		dst  **face
		size float64
	}{{&fs.title, 16}, {&fs.label, 16}, {&fs.tick, 13}, {&fs.legend, 14}} {
		face, err := newFace(f.size)
		if err != nil {
			return fonts{}, err
		}
		*f.dst = face
	}
	return fs, nil
}

var (
	black     = color.NRGBA{A: 0xff}
	gridColor = color.NRGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
	legendBG  = color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xd9} // 85% white over the lines
	legendRim = color.NRGBA{R: 0xbb, G: 0xbb, B: 0xbb, A: 0xff}
)

// The layout, in pixels.
const (
	margin    = 8  // around the whole chart
	tickLen   = 6  // a tick mark
	tickGap   = 3  // between a tick mark and its label
	panelGap  = 14 // between one panel's tick labels and the next panel
	lineWidth = 2  // a series: 1.5 points
)

// draw lays the chart out on a width × height canvas and draws it.
func (ch *chart) draw(c canvas, width, height float64) {
	f := ch.fonts
	xTicks := ticks(ch.seconds, 12, false)
	yTicks := make([][]tick, len(ch.panels))
	yTickWidth := 0.0
	for i, p := range ch.panels {
		yTicks[i] = ticks(p.top, 5, p.whole)
		for _, t := range yTicks[i] {
			yTickWidth = math.Max(yTickWidth, f.tick.width(t.label))
		}
	}
	lastX := f.tick.width(xTicks[len(xTicks)-1].label) / 2

	left := margin + f.label.height() + margin + yTickWidth + tickGap + tickLen
	right := width - margin - math.Max(lastX, margin)
	top := margin + f.title.height() + margin
	xTickHeight := tickLen + tickGap + f.tick.height()
	bottom := height - margin - f.label.height() - tickGap
	n := float64(len(ch.panels))
	panelHeight := (bottom - top - n*xTickHeight - (n-1)*panelGap) / n

	c.text(ch.title, (left+right)/2, margin+f.title.ascent(), f.title, anchorMiddle, false)
	for i, p := range ch.panels {
		y0 := top + float64(i)*(panelHeight+xTickHeight+panelGap)
		area := box{left, y0, right, y0 + panelHeight}
		ch.drawPanel(c, p, area, xTicks, yTicks[i])
		c.text(p.yLabel, margin+f.label.ascent(), (area.y0+area.y1)/2, f.label, anchorMiddle, true)
	}
	c.text(ch.xLabel, (left+right)/2, height-margin-f.label.descent(), f.label, anchorMiddle, false)
}

// drawPanel draws one panel in area, its tick labels outside it.
func (ch *chart) drawPanel(c canvas, p panel, area box, xTicks, yTicks []tick) {
	f := ch.fonts
	x := func(s float64) float64 { return area.x0 + s/ch.seconds*(area.x1-area.x0) }
	y := func(v float64) float64 { return area.y1 - v/p.top*(area.y1-area.y0) }

	for _, b := range p.bands {
		c.fill(box{x(b[0]), area.y0, x(b[1]), area.y1}, panicColor)
	}
	for _, t := range xTicks {
		c.stroke([]point{{x(t.value), area.y0}, {x(t.value), area.y1}}, 1, gridColor)
	}
	for _, t := range yTicks {
		c.stroke([]point{{area.x0, y(t.value)}, {area.x1, y(t.value)}}, 1, gridColor)
	}
	for _, s := range p.series {
		c.stroke(stepPoints(s, ch.seconds, x, y), lineWidth, s.color)
	}
	c.stroke([]point{{area.x0, area.y0}, {area.x0, area.y1}, {area.x1, area.y1}}, 1, black)
	for _, t := range xTicks {
		c.stroke([]point{{x(t.value), area.y1}, {x(t.value), area.y1 + tickLen}}, 1, black)
		c.text(t.label, x(t.value), area.y1+tickLen+tickGap+f.tick.ascent(), f.tick, anchorMiddle, false)
	}
	for _, t := range yTicks {
		c.stroke([]point{{area.x0 - tickLen, y(t.value)}, {area.x0, y(t.value)}}, 1, black)
		c.text(t.label, area.x0-tickLen-tickGap, f.tick.middle(y(t.value)), f.tick, anchorEnd, false)
	}
	ch.drawLegend(c, p, area)
}

// stepPoints is a series' line in pixels: level across each value's span,
// a vertical step where it changes, and no point where it does not.
func stepPoints(s series, end float64, x, y func(float64) float64) []point {
	pts := make([]point, 0, 2*len(s.at)+1)
	for i, at := range s.at {
		v := y(s.values[i])
		if i > 0 && s.values[i] == s.values[i-1] {
			continue
		}
		if i > 0 {
			pts = append(pts, point{x(at), pts[len(pts)-1].y})
		}
		pts = append(pts, point{x(at), v})
	}
	return append(pts, point{x(end), pts[len(pts)-1].y})
}

// drawLegend boxes the panel's series, then "panic" where it has bands,
// in its top right corner.
func (ch *chart) drawLegend(c canvas, p panel, area box) {
	type entry struct {
		label string
		color color.NRGBA
		band  bool
	}
	var entries []entry
	for _, s := range p.series {
		entries = append(entries, entry{s.label, s.color, false})
	}
	if len(p.bands) > 0 {
		entries = append(entries, entry{"panic", panicColor, true})
	}
	f := ch.fonts.legend
	const pad, thumb, gap = 6, 28, 6
	row := math.Ceil(f.height() * 1.2)
	// A viewer without the Go font draws SVG text in its own sans-serif,
	// up to a tenth wider (DejaVu Sans): leave it room in the box.
	textWidth := 0.0
	for _, e := range entries {
		textWidth = math.Max(textWidth, 1.12*f.width(e.label))
	}
	b := box{x1: area.x1 - margin, y0: area.y0 + margin}
	b.x0 = b.x1 - (pad + thumb + gap + textWidth + pad)
	b.y1 = b.y0 + 2*pad + row*float64(len(entries))
	c.fill(b, legendBG)
	c.stroke([]point{{b.x0, b.y0}, {b.x1, b.y0}, {b.x1, b.y1}, {b.x0, b.y1}, {b.x0, b.y0}}, 1, legendRim)
	for i, e := range entries {
		mid := b.y0 + pad + (float64(i)+0.5)*row
		x0 := b.x0 + pad
		if e.band {
			c.fill(box{x0, mid - row/2 + 3, x0 + thumb, mid + row/2 - 3}, e.color)
		} else {
			c.stroke([]point{{x0, mid}, {x0 + thumb, mid}}, lineWidth, e.color)
		}
		c.text(e.label, x0+thumb+gap, f.middle(mid), f, anchorStart, false)
	}
}

// tick is a labelled value on an axis.
type tick struct {
	value float64
	label string
}

// ticks are evenly spaced round values from 0 to top, about n of them at
// most: a step of 1, 2 or 5 times a power of ten, at least 1 where whole.
func ticks(top float64, n int, whole bool) []tick {
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if whole {
		step = math.Max(step, 1)
	}
	// The decimals the step has, to round away float noise (0.1 × 3).
	scale := 1.0
	for math.Abs(step*scale-math.Round(step*scale)) > 1e-9 && scale < 1e9 {
		scale *= 10
	}
	var ts []tick
	for i := 0; float64(i)*step <= top*(1+1e-9); i++ {
		v := math.Round(float64(i)*step*scale) / scale
		ts = append(ts, tick{v, strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ts
}
