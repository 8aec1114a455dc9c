package main

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plot draws the warm path into dir: latency against the offered rate
// (warm-latency.svg) and the closed loop's throughput (warm-max.svg).
// Scenarios not run draw nothing.
func (r *report) plot(dir string) error {
	if r.Warm == nil || len(r.Warm.Rows) == 0 {
		return nil
	}
	if err := r.Warm.plotLatency(filepath.Join(dir, "warm-latency.svg")); err != nil {
		return err
	}
	return r.Warm.plotMax(filepath.Join(dir, "warm-max.svg"))
}

func (r *warmResult) plotLatency(path string) error {
	p := plot.New()
	p.Title.Text = "warm path: latency at constant rates"
	p.X.Label.Text = "offered rate (requests/s)"
	p.Y.Label.Text = "latency (ms)"
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	top := 0.0
	for _, row := range r.Rows {
		if row.Rate > 0 {
			top = max(top, row.P99ms)
		}
	}
	p.Y.Max = top * 1.7 // room for the legend above the lines
	p.X.Min, p.X.Max = 0, float64(warmRates[len(warmRates)-2])*1.1
	for i, target := range warmTargets {
		for j, q := range []struct {
			name string
			get  func(warmRow) float64
		}{{"p50", func(w warmRow) float64 { return w.P50ms }}, {"p99", func(w warmRow) float64 { return w.P99ms }}} {
			var pts plotter.XYs
			for _, row := range r.Rows {
				if row.Target == target && row.Rate > 0 {
					pts = append(pts, plotter.XY{X: float64(row.Rate), Y: q.get(row)})
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			l.Color = plotutil.Color(i)
			s.Color = plotutil.Color(i)
			s.Shape = plotutil.Shape(i)
			if j == 1 {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l, s)
			p.Legend.Add(fmt.Sprintf("%s %s", target, q.name), l, s)
		}
	}
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

func (r *warmResult) plotMax(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("closed loop, %d clients", r.Clients)
	p.Y.Label.Text = "requests/s"
	var vals plotter.Values
	var names []string
	for _, target := range warmTargets {
		row := findRow(r.Rows, target, 0)
		vals = append(vals, row.Achieved)
		names = append(names, target)
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.7, float64(len(vals))-0.3 // room for the labels
	p.Y.Min = 0
	for _, v := range vals {
		p.Y.Max = max(p.Y.Max, v*1.15)
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: barTops(vals), Labels: ratioLabels(vals)})
	if err != nil {
		return err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = draw.XCenter
	}
	p.Add(labels)
	return p.Save(14*vg.Centimeter, 9*vg.Centimeter, path)
}

// barTops places a label on top of each bar.
func barTops(vals plotter.Values) plotter.XYs {
	pts := make(plotter.XYs, len(vals))
	for i, v := range vals {
		pts[i] = plotter.XY{X: float64(i), Y: v}
	}
	return pts
}

// ratioLabels labels each bar with its value and its ratio to the first.
func ratioLabels(vals plotter.Values) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = fmt.Sprintf("%.0f (%.2f×)", v, ratio(v, vals[0]))
	}
	return out
}
