// Command benchplot renders the cost curves of Go benchmark output as an
// SVG line chart: one series per benchmark whose sub-benchmark names end
// in "size=<N>KiB", x the state size (log scale), y a reported metric
// (log scale). With -count > 1 each point is the median of its runs.
//
//	go test -run '^$' -bench 'StateCostCurve' -cpu 1 -count 3 ./dashstream/translate | \
//	    go run ./bench/benchplot -metric cpu-ns/span -o docs/state-cost-curve.svg
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	metric := flag.String("metric", "cpu-ns/span", "metric to plot (a unit reported by the benchmarks)")
	out := flag.String("o", "", "SVG file to write (default stdout)")
	title := flag.String("title", "Cost of one node span against the size of its state", "chart title")
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		in = f
	}
	series, err := parse(in, *metric)
	if err != nil {
		log.Fatal(err)
	}
	if len(series) == 0 {
		log.Fatalf("no benchmark lines with size=<N>KiB and metric %s", *metric)
	}
	svg := render(series, *title, *metric)
	if *out == "" {
		fmt.Print(svg)
		return
	}
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		log.Fatal(err)
	}
}

// point is one measured size of a series.
type point struct {
	kib    float64
	values []float64
}

// series is one curve: the benchmark name without its size part.
type series struct {
	name   string
	points []point
}

var sizeRE = regexp.MustCompile(`^(.*?)/?size=([0-9.]+)KiB(?:-\d+)?$`)

// parse reads benchmark output: "BenchmarkX/a=b/size=4KiB-2  N  v unit ...".
func parse(r io.Reader, metric string) ([]series, error) {
	byName := map[string]map[float64][]float64{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		m := sizeRE.FindStringSubmatch(strings.TrimPrefix(f[0], "Benchmark"))
		if m == nil {
			continue
		}
		kib, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			if f[i+1] != metric {
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f[0], err)
			}
			name := m[1]
			if byName[name] == nil {
				byName[name] = map[float64][]float64{}
				order = append(order, name)
			}
			byName[name][kib] = append(byName[name][kib], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var out []series
	for _, name := range order {
		s := series{name: name}
		for kib, vs := range byName[name] {
			s.points = append(s.points, point{kib: kib, values: vs})
		}
		sort.Slice(s.points, func(i, j int) bool { return s.points[i].kib < s.points[j].kib })
		out = append(out, s)
	}
	return out, nil
}

func median(vs []float64) float64 {
	c := slices.Clone(vs)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}
