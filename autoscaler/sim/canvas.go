package sim

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// canvas is what the plot draws on, in pixels (96 to the inch) with y
// down: an SVG document or a PNG image. The plot needs only filled
// rectangles, lines whose segments run horizontally or vertically (step
// lines, grid, axes, ticks) and text, which keeps both kinds small and
// lets the PNG draw every line as rectangles, crisp and without a
// general rasterizer.
type canvas interface {
	// fill paints r in c, blending by c's alpha.
	fill(r box, c color.NRGBA)
	// stroke draws a line width wide through pts; every segment must be
	// horizontal or vertical. Ends and corners are square.
	stroke(pts []point, width float64, c color.NRGBA)
	// text writes s in f with its baseline through (x, y), which is the
	// start, middle or end of the text as a says; up turns it a quarter
	// turn counter-clockwise about (x, y), to read from bottom to top.
	text(s string, x, y float64, f *face, a anchor, up bool)
}

type point struct{ x, y float64 }

// box is a rectangle: x0 ≤ x1 and y0 ≤ y1.
type box struct{ x0, y0, x1, y1 float64 }

type anchor int

const (
	anchorStart anchor = iota
	anchorMiddle
	anchorEnd
)

// face is the plot's one font, Go Regular, at one size in pixels. Both
// canvases lay text out by its measure; the PNG also draws with it.
type face struct {
	size float64
	face font.Face
}

// goRegular is Go Regular parsed, once: the only font wake embeds (145
// kB), where gonum.org/v1/plot linked twelve (4.4 MB).
var goRegular = sync.OnceValues(func() (*opentype.Font, error) {
	return opentype.Parse(goregular.TTF)
})

func newFace(size float64) (*face, error) {
	f, err := goRegular()
	if err != nil {
		return nil, fmt.Errorf("the plot's font: %w", err)
	}
	// 72 dots to the inch makes the size in points a size in pixels.
	ff, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil, fmt.Errorf("the plot's font at %gpx: %w", size, err)
	}
	return &face{size: size, face: ff}, nil
}

func (f *face) width(s string) float64 { return float64(font.MeasureString(f.face, s)) / 64 }
func (f *face) ascent() float64        { return float64(f.face.Metrics().Ascent) / 64 }
func (f *face) descent() float64       { return float64(f.face.Metrics().Descent) / 64 }
func (f *face) height() float64        { return f.ascent() + f.descent() }

// middle is the baseline that centres capitals and digits on y.
func (f *face) middle(y float64) float64 { return y + float64(f.face.Metrics().CapHeight)/128 }

// start is where text anchored at x by a begins.
func start(x, width float64, a anchor) float64 {
	switch a {
	case anchorMiddle:
		return x - width/2
	case anchorEnd:
		return x - width
	}
	return x
}

// svgCanvas writes SVG: text as <text> in the font's family, falling back
// to a sans-serif where the viewer has no Go font (the file does not
// carry the font; it stays a few kB).
type svgCanvas struct{ b strings.Builder }

var _ canvas = (*svgCanvas)(nil)

func newSVG(width, height int) *svgCanvas {
	c := &svgCanvas{}
	fmt.Fprintf(&c.b, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Go, 'Go Regular', 'Liberation Sans', Arial, Helvetica, sans-serif">
`, width, height, width, height)
	c.fill(box{0, 0, float64(width), float64(height)}, color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff})
	return c
}

// bytes ends the document and returns it.
func (c *svgCanvas) bytes() []byte { return []byte(c.b.String() + "</svg>\n") }

func (c *svgCanvas) fill(r box, col color.NRGBA) {
	fmt.Fprintf(&c.b, `<rect x="%s" y="%s" width="%s" height="%s"%s/>`+"\n",
		num(r.x0), num(r.y0), num(r.x1-r.x0), num(r.y1-r.y0), paint("fill", col))
}

func (c *svgCanvas) stroke(pts []point, width float64, col color.NRGBA) {
	if len(pts) < 2 {
		return
	}
	var d strings.Builder
	d.WriteString("M" + num(pts[0].x) + " " + num(pts[0].y))
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		switch {
		case p.y == q.y:
			d.WriteString("H" + num(q.x))
		case p.x == q.x:
			d.WriteString("V" + num(q.y))
		default:
			d.WriteString("L" + num(q.x) + " " + num(q.y))
		}
	}
	fmt.Fprintf(&c.b, `<path d="%s" fill="none" stroke-width="%s" stroke-linecap="square"%s/>`+"\n",
		d.String(), num(width), paint("stroke", col))
}

func (c *svgCanvas) text(s string, x, y float64, f *face, a anchor, up bool) {
	attrs := ""
	switch a {
	case anchorMiddle:
		attrs = ` text-anchor="middle"`
	case anchorEnd:
		attrs = ` text-anchor="end"`
	}
	if up {
		attrs += fmt.Sprintf(` transform="rotate(-90 %s %s)"`, num(x), num(y))
	}
	fmt.Fprintf(&c.b, `<text x="%s" y="%s" font-size="%s"%s>%s</text>`+"\n",
		num(x), num(y), num(f.size), attrs, escape(s))
}

// num is a coordinate to a hundredth of a pixel, without trailing zeros,
// so the same plot is the same bytes.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// paint is a fill or stroke attribute, with its opacity where not opaque.
func paint(attr string, c color.NRGBA) string {
	s := fmt.Sprintf(` %s="#%02x%02x%02x"`, attr, c.R, c.G, c.B)
	if c.A != 0xff {
		s += fmt.Sprintf(` %s-opacity="%s"`, attr, strconv.FormatFloat(float64(c.A)/255, 'f', 2, 64))
	}
	return s
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func escape(s string) string { return escaper.Replace(s) }

// pngCanvas draws into an image. Rectangles and lines snap to whole
// pixels; text is anti-aliased.
type pngCanvas struct{ img *image.RGBA }

var _ canvas = (*pngCanvas)(nil)

func newPNG(width, height int) *pngCanvas {
	c := &pngCanvas{img: image.NewRGBA(image.Rect(0, 0, width, height))}
	draw.Draw(c.img, c.img.Bounds(), image.White, image.Point{}, draw.Src)
	return c
}

func (c *pngCanvas) fill(r box, col color.NRGBA) {
	draw.Draw(c.img, pixels(r), image.NewUniform(col), image.Point{}, draw.Over)
}

// stroke draws each segment as a rectangle that reaches half the width
// past both its ends, so segments join without gaps.
func (c *pngCanvas) stroke(pts []point, width float64, col color.NRGBA) {
	h := width / 2
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		c.fill(box{math.Min(p.x, q.x) - h, math.Min(p.y, q.y) - h, math.Max(p.x, q.x) + h, math.Max(p.y, q.y) + h}, col)
	}
}

// pixels is the whole pixels r covers, at least one each way.
func pixels(r box) image.Rectangle {
	x0, y0 := int(math.Round(r.x0)), int(math.Round(r.y0))
	x1, y1 := max(int(math.Round(r.x1)), x0+1), max(int(math.Round(r.y1)), y0+1)
	return image.Rect(x0, y0, x1, y1)
}

func (c *pngCanvas) text(s string, x, y float64, f *face, a anchor, up bool) {
	w := f.width(s)
	if !up {
		d := font.Drawer{Dst: c.img, Src: image.Black, Face: f.face, Dot: fixedPoint(start(x, w, a), y)}
		d.DrawString(s)
		return
	}
	// Draw the text level into a scratch image, starting at (0, asc), and
	// copy it turned: with the anchor at (ax, asc) there, the pixel
	// (tx, ty) lands at (x + ty - asc, y - (tx - ax)).
	asc := math.Ceil(f.ascent())
	tw, th := int(math.Ceil(w))+1, int(asc+math.Ceil(f.descent()))+1
	flat := image.NewRGBA(image.Rect(0, 0, tw, th))
	d := font.Drawer{Dst: flat, Src: image.Black, Face: f.face, Dot: fixedPoint(0, asc)}
	d.DrawString(s)
	turned := image.NewRGBA(image.Rect(0, 0, th, tw))
	for ty := range th {
		for tx := range tw {
			turned.SetRGBA(ty, tw-1-tx, flat.RGBAAt(tx, ty))
		}
	}
	ax := -start(0, w, a)
	at := image.Pt(int(math.Round(x-asc)), int(math.Round(y+ax-float64(tw-1))))
	draw.Draw(c.img, turned.Bounds().Add(at), turned, image.Point{}, draw.Over)
}

func fixedPoint(x, y float64) fixed.Point26_6 {
	return fixed.Point26_6{X: fixed.Int26_6(math.Round(x * 64)), Y: fixed.Int26_6(math.Round(y * 64))}
}
