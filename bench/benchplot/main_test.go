package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkStateCostCurve/change=field/size=1KiB          	   10	  5000 cpu-ns/span	  5100 ns/span
BenchmarkStateCostCurve/change=field/size=1KiB          	   10	  7000 cpu-ns/span	  7100 ns/span
BenchmarkStateCostCurve/change=field/size=1KiB          	   10	  6000 cpu-ns/span	  6100 ns/span
BenchmarkStateCostCurve/change=field/size=1024KiB-2     	   10	900000 cpu-ns/span	  9e5 ns/span
BenchmarkStateCostCurve/change=append/size=64KiB        	   10	 20000 cpu-ns/span	 2e4 ns/span
BenchmarkOther 	 10	 1 ns/op
PASS
`

func TestParseAndRender(t *testing.T) {
	ss, err := parse(strings.NewReader(sample), "cpu-ns/span")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].name != "StateCostCurve/change=field" || ss[1].name != "StateCostCurve/change=append" {
		t.Fatalf("series = %+v", ss)
	}
	if len(ss[0].points) != 2 || ss[0].points[0].kib != 1 || ss[0].points[1].kib != 1024 {
		t.Fatalf("points = %+v", ss[0].points)
	}
	if m := median(ss[0].points[0].values); m != 6000 {
		t.Fatalf("median = %v, want 6000", m)
	}
	svg := render(ss, "t", "cpu-ns/span")
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if strings.Count(svg, "<polyline") != 2 || !strings.Contains(svg, "1 MiB") || !strings.Contains(svg, "µs/span") {
		t.Fatalf("unexpected SVG:\n%s", svg)
	}
}
