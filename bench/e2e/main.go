// Command e2e is the end-to-end benchmark harness behind `make bench-e2e`.
// It builds our collector and a reference collector (contrib's Kafka
// exporter) with ocb, drives each with the same OTLP load from
// bench/loadgen against a fresh dev Kafka, measures throughput, CPU,
// memory, Kafka output and latency, and regenerates the "End to end"
// section of docs/BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

// Scenario names (results and docs refer to them).
const (
	scGraphSaturation = "graph-saturation"
	scGraphLatency    = "graph-latency"
	scFieldLatency    = "field-latency"
	scPlainSaturation = "plain-saturation"
	scLongLatency     = "long-latency"
	scTelemetrygen    = "telemetrygen-plain"
)

var allScenarios = []string{scGraphSaturation, scGraphLatency, scFieldLatency, scLongLatency, scPlainSaturation, scTelemetrygen}

type options struct {
	oursBin, refBin   string
	oursCfg, refCfg   string
	rebuild           bool
	collectors        []string
	scenarios         []string
	duration          time.Duration
	latencyDuration   time.Duration
	latencyRate       float64
	concurrency       int
	workload          workload.Config
	brokers, otlp     string
	pprof             string
	metricsPort       int
	workdir           string
	out               string
	write, profile    bool
	drainStable       time.Duration
	warmup            time.Duration
	args              []string
	oursOCB, refOCB   string
	latencyConcurrent int
	longNodes         int
	telemetrygen      string
	verify            bool
	rounds            int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{workload: workload.DefaultConfig(), args: args}
	w := &o.workload
	fs := flag.NewFlagSet("bench-e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.oursBin, "ours-bin", "build/bench/ours/otelcol-bench-ours", "our collector binary (built from -ours-ocb when missing)")
	fs.StringVar(&o.refBin, "ref-bin", "build/bench/reference/otelcol-bench-reference", "reference collector binary (built from -ref-ocb when missing)")
	fs.StringVar(&o.oursOCB, "ours-ocb", "bench/ours-builder-config.yaml", "ocb manifest of our collector")
	fs.StringVar(&o.refOCB, "ref-ocb", "bench/reference-builder-config.yaml", "ocb manifest of the reference collector")
	fs.StringVar(&o.oursCfg, "ours-config", "bench/collector-ours.yaml", "collector configuration of ours")
	fs.StringVar(&o.refCfg, "ref-config", "bench/collector-reference.yaml", "collector configuration of the reference")
	fs.BoolVar(&o.rebuild, "rebuild", false, "rebuild both collectors with ocb even when the binaries exist")
	collectors := fs.String("collectors", "ours,reference", "which collectors to measure")
	scenarios := fs.String("scenarios", strings.Join(allScenarios, ","), "which scenarios to run")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "load duration of each saturation measurement")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 20*time.Second, "load duration of each fixed-rate measurement")
	fs.Float64Var(&o.latencyRate, "latency-rate", 2000, "spans/s of the fixed-rate (latency and wire) measurements")
	fs.IntVar(&o.concurrency, "concurrency", 4, "sender connections at saturation")
	fs.IntVar(&o.latencyConcurrent, "latency-concurrency", 2, "sender connections at the fixed rate")
	fs.IntVar(&w.Threads, "threads", w.Threads, "concurrent runs per generation (spans per request)")
	fs.IntVar(&w.Nodes, "nodes", w.Nodes, "node steps per run")
	fs.IntVar(&o.longNodes, "long-nodes", 100, "node steps per run of the long-latency scenario")
	fs.IntVar(&w.StateBytes, "state-bytes", w.StateBytes, "size of the state's fixed text")
	fs.IntVar(&w.MessageBytes, "message-bytes", w.MessageBytes, "size of each appended message or replaced field")
	fs.StringVar(&o.brokers, "kafka", "127.0.0.1:19092", "address the dev Kafka listens on (loopback)")
	fs.StringVar(&o.otlp, "otlp", "127.0.0.1:14317", "OTLP/gRPC address the collectors listen on (loopback)")
	fs.StringVar(&o.pprof, "pprof", "127.0.0.1:17777", "pprof extension address of the collectors")
	fs.StringVar(&o.telemetrygen, "telemetrygen", "build/bench/telemetrygen", "telemetrygen binary for the telemetrygen-plain scenario (built when missing; empty skips the scenario)")
	fs.BoolVar(&o.verify, "verify", true, "check our streams of the fixed-rate runs with `dashstream verify` (cmd/dashstream)")
	fs.IntVar(&o.metricsPort, "metrics-port", 18888, "loopback port of the collectors' Prometheus metrics")
	fs.BoolVar(&o.profile, "profile", false, "take a CPU profile of each collector during the graph saturation run (of the first round)")
	fs.IntVar(&o.rounds, "rounds", 1, "measure each scenario this many times per collector, alternating which goes first; ratios are the medians of the rounds'")
	fs.StringVar(&o.workdir, "workdir", "build/bench", "where binaries, logs, profiles and results go")
	fs.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "document whose \"End to end\" section is regenerated")
	fs.BoolVar(&o.write, "write", true, "regenerate the section of -out")
	fs.DurationVar(&o.drainStable, "drain-stable", 2*time.Second, "the queue counts as drained when the topic did not grow for this long")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "latency samples of spans that ended in the first part of a fixed-rate run are left out")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	o.collectors = splitList(*collectors)
	o.scenarios = splitList(*scenarios)
	var errs []error
	for _, c := range o.collectors {
		if c != ours && c != reference {
			errs = append(errs, fmt.Errorf("-collectors: unknown %q (want ours, reference)", c))
		}
	}
	for _, s := range o.scenarios {
		if !contains(allScenarios, s) {
			errs = append(errs, fmt.Errorf("-scenarios: unknown %q (want some of %s)", s, strings.Join(allScenarios, ",")))
		}
	}
	if o.duration < time.Second || o.latencyDuration < time.Second {
		errs = append(errs, errors.New("-duration and -latency-duration must be at least 1s"))
	}
	if o.warmup < 0 || o.warmup >= o.latencyDuration/2 {
		errs = append(errs, errors.New("-warmup must be at least 0 and less than half of -latency-duration"))
	}
	if o.longNodes < 1 || o.longNodes > 1000 {
		errs = append(errs, errors.New("-long-nodes must be 1..1000"))
	}
	if o.rounds < 1 || o.rounds > 20 {
		errs = append(errs, errors.New("-rounds must be 1..20"))
	}
	if o.latencyRate <= 0 {
		errs = append(errs, errors.New("-latency-rate must be positive"))
	}
	if err := w.Validate(); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// buildScenarios turns the options into the measurement plan.
func buildScenarios(o options) []scenario {
	base := o.workload
	field := base
	field.Pattern = workload.PatternField
	plain := base
	plain.Kind = workload.KindPlain
	// Long runs grow large states: fewer concurrent runs and a quarter of
	// the rate keep the generations short and the collectors unsaturated.
	long := base
	long.Nodes = o.longNodes
	long.Threads = max(1, base.Threads/5)
	all := map[string]scenario{
		scGraphSaturation: {Name: scGraphSaturation, Title: "Saturation: graph-shaped traffic, append pattern",
			Workload: base, Concurrency: o.concurrency, Duration: o.duration, Profile: o.profile},
		scGraphLatency: {Name: scGraphLatency, Title: "Fixed moderate rate: graph-shaped traffic, append pattern (latency)",
			Workload: base, Rate: o.latencyRate, Concurrency: o.latencyConcurrent, Duration: o.latencyDuration},
		scFieldLatency: {Name: scFieldLatency, Title: "Fixed moderate rate: graph-shaped traffic, change-one-field pattern",
			Workload: field, Rate: o.latencyRate, Concurrency: o.latencyConcurrent, Duration: o.latencyDuration / 2},
		scLongLatency: {Name: scLongLatency, Title: fmt.Sprintf("Fixed moderate rate: long runs (%d nodes), append pattern", o.longNodes),
			Workload: long, Rate: o.latencyRate / 4, Concurrency: o.latencyConcurrent, Duration: o.latencyDuration / 2},
		scTelemetrygen: {Name: scTelemetrygen, Title: "Saturation attempt with contrib's telemetrygen: plain spans",
			Workload: plain, Concurrency: o.concurrency, Duration: o.duration, Driver: driverTelemetrygen},
		scPlainSaturation: {Name: scPlainSaturation, Title: "Saturation: plain spans (no graph attributes, pass-through cost)",
			Workload: plain, Concurrency: o.concurrency, Duration: o.duration},
	}
	var out []scenario
	for _, name := range allScenarios {
		if !contains(o.scenarios, name) {
			continue
		}
		if name == scTelemetrygen && o.telemetrygen == "" {
			continue
		}
		out = append(out, all[name])
	}
	return out
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.workdir, err)
	}
	res := &results{
		Started:   time.Now(),
		Machine:   readMachine(),
		Command:   commandLine(o.args),
		Runs:      map[string]map[string]measurement{},
		Rounds:    map[string][]round{},
		Baselines: map[string]fullStateBaseline{},
		Warmup:    o.warmup,
	}
	fmt.Fprintf(stdout, "bench-e2e: building helpers into %s\n", o.workdir)
	e := env{
		workdir:      o.workdir,
		devkafka:     filepath.Join(o.workdir, "devkafka"),
		loadgen:      filepath.Join(o.workdir, "loadgen"),
		brokers:      o.brokers,
		otlp:         o.otlp,
		pprof:        o.pprof,
		metricsPort:  strconv.Itoa(o.metricsPort),
		telemetrygen: o.telemetrygen,
		clockTicks:   clockTicks(ctx),
		drainStable:  o.drainStable,
		warmup:       o.warmup,
		log:          stdout,
	}
	for _, b := range [][2]string{{e.devkafka, "./cmd/devkafka"}, {e.loadgen, "./bench/loadgen"}} {
		if _, err := runOutput(ctx, stderr, "go", "build", "-o", b[0], b[1]); err != nil {
			return err
		}
	}
	if o.verify {
		cli := filepath.Join(o.workdir, "dashstream")
		if _, err := runOutput(ctx, stderr, "go", "build", "-o", cli, "./cmd/dashstream"); err != nil {
			msg := fmt.Sprintf("stream verification skipped: %v", err)
			fmt.Fprintln(stderr, "bench-e2e:", msg)
			res.Failures = append(res.Failures, msg)
		} else {
			e.dashstreamCLI = cli
		}
	}

	specs := map[string]collectorSpec{
		ours: {Name: ours, Label: "ours (dashstream)", Bin: o.oursBin, Config: o.oursCfg, Decoder: dashStreamDecoder},
		reference: {Name: reference, Label: "reference (kafka, otlp_proto)", Bin: o.refBin, Config: o.refCfg,
			Decoder: func() (recordDecoder, error) { return otlpDecoder(), nil }},
	}
	manifests := map[string]string{ours: o.oursOCB, reference: o.refOCB}
	for _, name := range o.collectors {
		s := specs[name]
		if err := ensureCollector(ctx, stdout, stderr, s.Bin, manifests[name], o.rebuild); err != nil {
			return err
		}
		res.Collectors = append(res.Collectors, s)
	}
	res.Versions = versions(ctx, res.Collectors)

	for _, sc := range buildScenarios(o) {
		if sc.driver() == driverTelemetrygen {
			if err := ensureTelemetrygen(ctx, stdout, stderr, o.telemetrygen, o.workdir); err != nil {
				msg := fmt.Sprintf("%s skipped: %v", sc.Name, err)
				fmt.Fprintln(stderr, "bench-e2e:", msg)
				res.Failures = append(res.Failures, msg)
				continue
			}
		}
		res.Scenarios = append(res.Scenarios, sc)
	}
	for _, sc := range res.Scenarios {
		if sc.live() && sc.Workload.Kind == workload.KindGraph {
			b, err := computeBaseline(sc.Workload)
			if err != nil {
				return fmt.Errorf("full-state baseline of %s: %w", sc.Name, err)
			}
			res.Baselines[sc.Name] = b
		}
		for i := range o.rounds {
			rd := round{Runs: map[string]measurement{}}
			scr := sc
			scr.Profile = sc.Profile && i == 0 // a profile costs CPU: the first round only
			for _, c := range roundOrder(res.Collectors, i) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fmt.Fprintf(stdout, "bench-e2e: %s on %s, round %d of %d (load average %.1f)\n", sc.Name, c.Name, i+1, o.rounds, loadAverage())
				m, err := measure(ctx, e, c, scr)
				if err != nil {
					msg := fmt.Sprintf("%s on %s, round %d: %v", sc.Name, c.Name, i+1, err)
					fmt.Fprintln(stderr, "bench-e2e:", msg)
					res.Failures = append(res.Failures, msg)
					continue
				}
				rd.Order = append(rd.Order, c.Name)
				rd.Runs[c.Name] = m
				fmt.Fprintf(stdout, "  %s: %s spans/s, %s CPU-s/M spans, RSS %s MiB, %s records, p99 %s ms, loadgen %s CPU-s/M\n",
					c.Name, num(m.SpansPerSecond(), 0), num(m.CPUPerMillionSpans(), 2), num(float64(m.PeakRSSKiB)/1024, 1),
					num(float64(m.Kafka.Records), 0), num(m.LatencyP99Ms, 1), num(m.Load.CPUPerMillionSpans(), 2))
			}
			if len(rd.Runs) > 0 {
				res.Rounds[sc.Name] = append(res.Rounds[sc.Name], rd)
			}
		}
		if med, lo, hi, n, ok := res.medianRatio(sc.Name, cpuRatio); ok && n > 1 {
			fmt.Fprintf(stdout, "  CPU ours / reference: median %s of %d rounds [%s–%s]\n", times(med), n, times(lo), times(hi))
		}
	}
	res.settleRuns()
	res.Finished = time.Now()

	resultsPath := filepath.Join(o.workdir, "results.json")
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(resultsPath, js, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", resultsPath, err)
	}
	section := renderSection(res)
	if err := os.WriteFile(filepath.Join(o.workdir, "end-to-end.md"), []byte(section), 0o644); err != nil {
		return fmt.Errorf("writing section copy: %w", err)
	}
	if o.write {
		if err := writeSection(o.out, section); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bench-e2e: regenerated the %q section of %s\n", sectionHeading, o.out)
	}
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d measurement(s) failed: %s", len(res.Failures), strings.Join(res.Failures, "; "))
	}
	return nil
}

// ensureCollector builds a collector with ocb when its binary is missing or
// older than what it is built from (or always with rebuild): measuring a
// stale binary would attribute old code's figures to the current tree.
func ensureCollector(ctx context.Context, stdout, stderr io.Writer, bin, manifest string, rebuild bool) error {
	if fi, err := os.Stat(bin); err == nil && !rebuild {
		newer, err := sourcesNewerThan(fi.ModTime(), manifest)
		if err != nil {
			return err
		}
		if !newer {
			return nil
		}
	}
	ocb := ".bin/ocb"
	if _, err := os.Stat(ocb); err != nil {
		if _, err := runOutput(ctx, stderr, "make", "tools"); err != nil {
			return fmt.Errorf("building ocb: %w", err)
		}
	}
	fmt.Fprintf(stdout, "bench-e2e: building %s with ocb (slow the first time)\n", bin)
	if _, err := runOutput(ctx, stderr, ocb, "--config", manifest); err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("ocb %s did not produce %s: %w", manifest, bin, err)
	}
	return nil
}

// sourcesNewerThan reports whether the manifest, go.mod/go.sum or any
// non-test Go file of the exporter (the repository root, internal/ and
// dashstream/) changed after t.
func sourcesNewerThan(t time.Time, manifest string) (bool, error) {
	for _, f := range []string{manifest, "go.mod", "go.sum"} {
		fi, err := os.Stat(f)
		if err != nil {
			return false, fmt.Errorf("checking %s: %w", f, err)
		}
		if fi.ModTime().After(t) {
			return true, nil
		}
	}
	roots, _ := filepath.Glob("*.go")
	newer := false
	check := func(path string, fi os.FileInfo) {
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") && fi.ModTime().After(t) {
			newer = true
		}
	}
	for _, f := range roots {
		if fi, err := os.Stat(f); err == nil {
			check(f, fi)
		}
	}
	for _, dir := range []string{"internal", "dashstream"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || newer {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			check(path, fi)
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("checking %s: %w", dir, err)
		}
	}
	return newer, nil
}

// telemetrygenModule is the contrib release of telemetrygen known to build
// with this toolchain and module proxy.
const telemetrygenModule = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0"

// ensureTelemetrygen builds telemetrygen into bin when it is missing, in a
// throwaway module under workdir so the repository's go.mod files stay as
// they are.
func ensureTelemetrygen(ctx context.Context, stdout, stderr io.Writer, bin, workdir string) error {
	if _, err := os.Stat(bin); err == nil {
		return nil
	}
	src := filepath.Join(workdir, "telemetrygen-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", src, err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module benchtelemetrygen\n\ngo 1.26.0\n"), 0o644); err != nil {
		return fmt.Errorf("writing telemetrygen go.mod: %w", err)
	}
	absBin, err := filepath.Abs(bin)
	if err != nil {
		return fmt.Errorf("telemetrygen path: %w", err)
	}
	fmt.Fprintf(stdout, "bench-e2e: building %s into %s\n", telemetrygenModule, bin)
	pkg, _, _ := strings.Cut(telemetrygenModule, "@")
	for _, argv := range [][]string{{"go", "get", telemetrygenModule}, {"go", "build", "-o", absBin, pkg}} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
	}
	return nil
}

func commandLine(args []string) string {
	if len(args) == 0 {
		return "make bench-e2e   # = go run ./bench/e2e"
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if strings.ContainsAny(a, " '\"$") {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return "go run ./bench/e2e " + strings.Join(quoted, " ")
}
