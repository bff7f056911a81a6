package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry (SVG user units).
const (
	width, height          = 760, 440
	left, right, top, bott = 80, 250, 50, 60
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// render draws the series on log-log axes: x in KiB, y in the metric's
// unit turned into µs when it is a nanosecond figure.
func render(ss []series, title, metric string) string {
	scale, unit := 1.0, metric
	if strings.Contains(metric, "ns/") {
		scale, unit = 1e-3, strings.Replace(metric, "ns", "µs", 1)
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.points {
			y := median(p.values) * scale
			xmin, xmax = math.Min(xmin, p.kib), math.Max(xmax, p.kib)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	// Decades that enclose the data.
	lx0, lx1 := math.Floor(math.Log2(xmin)), math.Ceil(math.Log2(xmax))
	ly0, ly1 := math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
	if lx1 == lx0 {
		lx1++
	}
	if ly1 == ly0 {
		ly1++
	}
	pw, ph := float64(width-left-right), float64(height-top-bott)
	px := func(kib float64) float64 { return float64(left) + (math.Log2(kib)-lx0)/(lx1-lx0)*pw }
	py := func(v float64) float64 { return float64(top) + (ly1-math.Log10(v))/(ly1-ly0)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and ticks.
	labelEvery := 1.0
	if lx1-lx0 > 6 {
		labelEvery = 2 // keep the labels apart
	}
	for e := lx0; e <= lx1; e++ {
		x := px(math.Exp2(e))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, top, x, height-bott)
		if math.Mod(e-lx0, labelEvery) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, height-bott+16, sizeLabel(math.Exp2(e)))
		}
	}
	for e := ly0; e <= ly1; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if e == ly1 && m > 1 {
				break
			}
			y := py(v)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, y, width-right, y, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, trimFloat(v))
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle">state size (JSON bytes, log scale)</text>`+"\n", float64(left)+pw/2, height-18)
	fmt.Fprintf(&b, `<text transform="translate(18,%.0f) rotate(-90)" text-anchor="middle">%s (median, log scale)</text>`+"\n", float64(top)+ph/2, html.EscapeString(unit))
	// Series and legend.
	for i, s := range ss {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range s.points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.kib), py(median(p.values)*scale)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		for _, p := range s.points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`+"\n",
				px(p.kib), py(median(p.values)*scale), color, html.EscapeString(s.name), sizeLabel(p.kib), trimFloat(median(p.values)*scale))
		}
		ly := top + 10 + i*34
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", width-right+12, ly, width-right+32, ly, color)
		for j, line := range wrap(s.name, 28) {
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", width-right+38, ly+4+j*14, html.EscapeString(line))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func sizeLabel(kib float64) string {
	if kib >= 1024 {
		return trimFloat(kib/1024) + " MiB"
	}
	return trimFloat(kib) + " KiB"
}

func trimFloat(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

// wrap splits a series name at '/' so the legend stays narrow.
func wrap(s string, n int) []string {
	var lines []string
	cur := ""
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == ':' }) {
		if cur != "" && len(cur)+1+len(part) > n {
			lines = append(lines, cur)
			cur = part
			continue
		}
		if cur != "" {
			cur += "/"
		}
		cur += part
	}
	return append(lines, cur)
}
