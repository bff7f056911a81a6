package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// results is everything one harness run produced.
type results struct {
	Started    time.Time                         `json:"started"`
	Finished   time.Time                         `json:"finished"`
	Machine    machineInfo                       `json:"machine"`
	Versions   []string                          `json:"versions"`
	Command    string                            `json:"command"`
	Scenarios  []scenario                        `json:"-"`
	Collectors []collectorSpec                   `json:"-"`
	Runs       map[string]map[string]measurement `json:"runs"`   // scenario → collector → measurement (see settleRuns)
	Rounds     map[string][]round                `json:"rounds"` // scenario → every round measured
	Baselines  map[string]fullStateBaseline      `json:"baselines"`
	Failures   []string                          `json:"failures"`
	Warmup     time.Duration                     `json:"warmup"`
}

func (r *results) get(sc, col string) (measurement, bool) {
	m, ok := r.Runs[sc][col]
	return m, ok
}

// machineInfo describes where the figures were taken.
type machineInfo struct {
	NProc    int    `json:"nproc"`
	CPUModel string `json:"cpu_model"`
	MemGiB   string `json:"mem_gib"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
}

// Names of the two sides; the tables show ours first.
const (
	ours      = "ours"
	reference = "reference"
)

// renderSection writes the markdown of the "End to end" section.
func renderSection(r *results) string {
	var b bytes.Buffer
	t := tableWriter{&b}
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("Our collector (`otlp` receiver → `dashstream` exporter) and a reference collector (`otlp` receiver →\n")
	p("contrib's `kafka` exporter, `otlp_proto` encoding) built with ocb from `bench/*-builder-config.yaml`,\n")
	p("driven in turn with the same OTLP/gRPC load from `bench/loadgen`, each writing to a fresh dev Kafka\n")
	p("(`cmd/devkafka`, kfake) over loopback. Generated %s UTC by the harness `bench/e2e`; raw figures in\n", r.Finished.UTC().Format("2006-01-02 15:04"))
	p("`build/bench/results.json`.\n\n")

	m := r.Machine
	p("Machine: `nproc` = %d; CPU %s; %s GiB RAM; Linux %s; %s. ", m.NProc, m.CPUModel, m.MemGiB, m.Kernel, m.Go)
	p("The machine was shared with other jobs: each table gives the 1-minute load average before → after\n")
	p("its run; CPU-seconds (from `/proc/<pid>/stat`) are less sensitive to that load than rates are.\n\n")
	if len(r.Versions) > 0 {
		p("Versions: %s.\n\n", strings.Join(r.Versions, "; "))
	}
	p("Command (from the repository root):\n\n```sh\n%s\n```\n\n", r.Command)

	if len(r.Scenarios) > 0 {
		w := r.Scenarios[0].Workload
		p("Workload: each run is one thread of %d node spans plus its graph span, with `dashstream.*` keys\n", w.Nodes)
		p("(SPEC §4.1: span kind, thread id, run id, node name, step, and `dashstream.state`, the full state JSON\n")
		p("after the node). A state is a %d-byte text `context`, a message list and, for the field pattern,\n", w.StateBytes)
		p("ten %d-byte fields; *append* adds one %d-byte message per node, *field* replaces one field.\n", w.MessageBytes, w.MessageBytes)
		p("Requests carry one span of each of %d concurrent runs (node k of every run, then the graph spans), as an\n", w.Threads)
		p("SDK batch processor would export them; every run is a new thread, so each starts with one full state.\n")
		p("*Plain* traffic has the same layout with HTTP/database attributes and no graph keys: our exporter\n")
		p("classifies and drops it, the reference writes it. Both collectors keep their exporter defaults (ours:\n")
		p("one queue consumer for per-thread order, batches of 2,000–10,000 records or 5 ms, acks=all,\n")
		p("idempotent, sarama; reference: 10 consumers, no batching, acks=1, franz-go) except\n")
		p("`sending_queue.block_on_overflow: true`, so a saturated\n")
		p("exporter slows the sender down instead of dropping spans.\n\n")
	}

	for _, sc := range r.Scenarios {
		renderScenario(&b, t, r, sc)
	}
	renderWire(&b, t, r)
	renderAims(&b, r)
	renderMethod(&b, r.Warmup)
	if len(r.Failures) > 0 {
		p("### Failures in this run\n\n")
		for _, f := range r.Failures {
			p("- %s\n", f)
		}
		p("\n")
	}
	return b.String()
}

func renderScenario(b *bytes.Buffer, t tableWriter, r *results, sc scenario) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("### %s\n\n", sc.Title)
	load := "as fast as the collector accepts (saturation)"
	if sc.Rate > 0 {
		load = fmt.Sprintf("fixed rate of %s spans/s", num(sc.Rate, 0))
	}
	if sc.driver() == driverTelemetrygen {
		p("`telemetrygen traces` (contrib, v0.161.0), %d workers unthrottled, %s, a parent and one child span per trace:\n", sc.Concurrency, fmtDuration(sc.Duration))
		p("how far the usual tool gets, and what it costs itself, next to `bench/loadgen` above.\n\n")
	} else {
		p("%s traffic, %s, %d sender connections, %s of new runs.\n\n", sc.Workload.Kind, load, sc.Concurrency, fmtDuration(sc.Duration))
	}
	o, okO := r.get(sc.Name, ours)
	ref, okR := r.get(sc.Name, reference)
	cols := []string{"figure"}
	for _, c := range r.Collectors {
		cols = append(cols, c.Label)
	}
	cols = append(cols, "ours / reference")
	t.header("right", cols...)
	row := func(name string, f func(measurement) float64, dec int) {
		cells := []string{name}
		for _, c := range r.Collectors {
			if mm, ok := r.get(sc.Name, c.Name); ok {
				cells = append(cells, num(f(mm), dec))
			} else {
				cells = append(cells, "failed")
			}
		}
		if okO && okR {
			cells = append(cells, ratio(f(o), f(ref)))
		} else {
			cells = append(cells, "—")
		}
		t.row(cells...)
	}
	row("spans accepted", func(m measurement) float64 { return float64(m.Load.SpansOK) }, 0)
	row("spans the receiver counted (collector's own metric)", func(m measurement) float64 { return float64(m.Receiver.Accepted) }, 0)
	row("sustained spans/s (accepted ÷ time until Kafka had all)", measurement.SpansPerSecond, 0)
	row("collector CPU-seconds per million spans", measurement.CPUPerMillionSpans, 2)
	row("collector peak RSS (MiB, VmHWM)", func(m measurement) float64 { return float64(m.PeakRSSKiB) / 1024 }, 1)
	row("Kafka records/s", measurement.RecordsPerSecond, 0)
	row("Kafka MB/s (key + value + headers)", func(m measurement) float64 { return m.BytesPerSecond() / 1e6 }, 2)
	row("Kafka bytes per span", measurement.BytesPerSpan, 1)
	if sc.live() {
		row("latency p50, span end → record consumed (ms)", func(m measurement) float64 { return m.LatencyP50Ms }, 1)
		row("latency p99 (ms)", func(m measurement) float64 { return m.LatencyP99Ms }, 1)
		row("of which record timestamp → consumed (Kafka leg), p50 (ms)", func(m measurement) float64 { return m.KafkaLegP50Ms }, 1)
		row("Kafka leg p99 (ms)", func(m measurement) float64 { return m.KafkaLegP99Ms }, 1)
		row("latency max (ms)", func(m measurement) float64 { return m.LatencyMaxMs }, 1)
		row("latency p99 of 1-s windows, median (ms)", func(m measurement) float64 { return m.WindowP99MedianMs }, 1)
		row(fmt.Sprintf("1-s windows with a sample over %d ms", stallMs), func(m measurement) float64 { return float64(m.StallWindows) }, 0)
		row("1-s windows", func(m measurement) float64 { return float64(m.Windows) }, 0)
		row("latency samples", func(m measurement) float64 { return float64(m.LatencySamples) }, 0)
	}
	row("export call p99, sender side (ms)", func(m measurement) float64 { return m.Load.RPCp99Ms }, 1)
	row("dev Kafka CPU-seconds per million spans", measurement.KafkaCPUPerMillionSpans, 2)
	row("load generator CPU-seconds per million spans", func(m measurement) float64 { return m.Load.CPUPerMillionSpans() }, 2)
	cells := []string{"load average (1 min) before → after"}
	for _, c := range r.Collectors {
		if mm, ok := r.get(sc.Name, c.Name); ok {
			cells = append(cells, num(mm.LoadAvgBefore, 1)+" → "+num(mm.LoadAvgAfter, 1))
		} else {
			cells = append(cells, "failed")
		}
	}
	t.row(append(cells, "—")...)
	p("\n")
	for _, c := range r.Collectors {
		if mm, ok := r.get(sc.Name, c.Name); ok && (mm.Load.SpansFailed > 0 || mm.Load.SpansRejected > 0 || mm.Kafka.DecodeErrors > 0) {
			p("%s: %d spans refused, %d rejected, %d undecodable records (first error: %s %s).\n\n", c.Label,
				mm.Load.SpansFailed, mm.Load.SpansRejected, mm.Kafka.DecodeErrors, mm.Load.FirstError, mm.Kafka.FirstDecodeError)
		}
	}
	for _, c := range r.Collectors {
		if mm, ok := r.get(sc.Name, c.Name); ok && mm.Load.SpansGenerated > 0 {
			p("%s: telemetrygen logged %s spans generated, of which %s reached the collector (its SDK's batch\n", c.Label,
				num(float64(mm.Load.SpansGenerated), 0), percent(float64(mm.Receiver.Accepted)/float64(mm.Load.SpansGenerated)))
			p("span processor drops what its queue cannot hold); spans accepted are the receiver's count.\n\n")
		}
	}
	if o, ok := r.get(sc.Name, ours); ok && o.Verify != "" {
		p("`dashstream verify` of our topic after this run: %s\n\n", o.Verify)
	}
	if o, ok := r.get(sc.Name, ours); ok && len(o.Kafka.ByKind) > 0 && sc.Workload.Kind == workload.KindGraph {
		p("Our records by kind: %s.\n\n", kindSummary(o))
	}
	renderRounds(b, t, r, sc)
	renderProfileShares(b, t, r, sc)
	for _, c := range r.Collectors {
		if mm, ok := r.get(sc.Name, c.Name); ok && mm.ProfileTop != "" {
			p("%s CPU and allocation profiles of this run (`go tool pprof -top` views): `%s`.\n\n", c.Label, relPath(mm.ProfileTop))
		}
	}
}

func kindSummary(m measurement) string {
	order := []string{kindEvent, kindStatePatch, kindStateFull, kindCheckpoint, kindOtherMessages}
	var parts []string
	for _, k := range order {
		if s := m.Kafka.ByKind[k]; s != nil {
			parts = append(parts, fmt.Sprintf("%s %s records, %s bytes", strings.ReplaceAll(k, "_", " "), num(float64(s.Records), 0), num(float64(s.Bytes), 0)))
		}
	}
	return strings.Join(parts, "; ")
}

// stateKinds are the records that carry state: what "sending the state" costs.
var stateKinds = []string{kindStatePatch, kindStateFull, kindCheckpoint}

// wireSavings is 1 - (our state records per step ÷ full-state records per step).
func wireSavings(m measurement, b fullStateBaseline) float64 {
	if b.RecordPerStep == 0 {
		return 0
	}
	return 1 - m.BytesPerStep(stateKinds...)/b.RecordPerStep
}

func renderWire(b *bytes.Buffer, t tableWriter, r *results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	var rows []scenario
	for _, sc := range r.Scenarios {
		if _, ok := r.Baselines[sc.Name]; ok && sc.live() {
			rows = append(rows, sc)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("### Wire efficiency: Kafka bytes per node step\n\n")
	p("Bytes are key + value + headers of every record, divided by the node spans sent. *Full state every\n")
	p("step* is computed from the same states: a StateDiff with `full_state`, framed as ours are (zstd above\n")
	p("512 bytes), plus key and `traceparent` header. *DashStream state records* are the StateDiffs (patches,\n")
	p("and the one full state each new thread starts with) and Checkpoints our collector wrote; *all records*\n")
	p("adds the lifecycle events. The reference writes every span as OTLP, the state attribute included.\n\n")
	t.header("right", "pattern (nodes per run)", "state JSON", "full state every step", "DashStream state records",
		"of which checkpoints", "DashStream all records", "reference OTLP", "state records vs full state", "all records vs reference")
	for _, sc := range rows {
		base := r.Baselines[sc.Name]
		o, okO := r.get(sc.Name, ours)
		ref, okR := r.get(sc.Name, reference)
		cells := []string{fmt.Sprintf("%s (%d)", sc.Workload.Pattern, sc.Workload.Nodes), num(base.StateJSONPerStep, 0), num(base.RecordPerStep, 0)}
		if okO {
			cells = append(cells, num(o.BytesPerStep(stateKinds...), 0), num(o.BytesPerStep(kindCheckpoint), 0), num(o.BytesPerStep(), 0))
		} else {
			cells = append(cells, "failed", "failed", "failed")
		}
		if okR {
			cells = append(cells, num(ref.BytesPerStep(), 0))
		} else {
			cells = append(cells, "failed")
		}
		if okO {
			cells = append(cells, percent(wireSavings(o, base))+" fewer")
		} else {
			cells = append(cells, "—")
		}
		if okO && okR && ref.BytesPerStep() > 0 {
			cells = append(cells, percent(1-o.BytesPerStep()/ref.BytesPerStep())+" fewer")
		} else {
			cells = append(cells, "—")
		}
		t.row(cells...)
	}
	p("\n")
}

// Aims of issue 6.
const (
	aimCPURatio   = 1.5
	aimP99Ms      = 250
	aimWireSaving = 0.90
)

func renderAims(b *bytes.Buffer, r *results) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("### Against the aims\n\n")
	verdict := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**not met**"
	}
	if o, ok := r.get(scGraphSaturation, ours); ok {
		if ref, ok := r.get(scGraphSaturation, reference); ok {
			q, rounds := o.CPUPerMillionSpans()/ref.CPUPerMillionSpans(), ""
			if med, lo, hi, n, ok := r.medianRatio(scGraphSaturation, cpuRatio); ok && n > 1 {
				q, rounds = med, fmt.Sprintf(" (the median of %d paired rounds, range %s–%s; the figures are the median round's)", n, times(lo), times(hi))
			}
			p("- Collector CPU per span on graph-shaped traffic within %.1f× of the reference: %s — %s vs %s\n", aimCPURatio, verdict(q <= aimCPURatio), num(o.CPUPerMillionSpans(), 2), num(ref.CPUPerMillionSpans(), 2))
			p("  CPU-seconds per million spans at saturation, %s%s.\n", times(q), rounds)
		}
	} else {
		p("- CPU per span: not measured in this run.\n")
	}
	if o, ok := r.get(scGraphLatency, ours); ok {
		p("- p99 latency at moderate load under %d ms with default batching: %s — p99 %s ms over all samples (p50 %s ms)\n",
			aimP99Ms, verdict(o.LatencySamples > 0 && o.LatencyP99Ms < aimP99Ms), num(o.LatencyP99Ms, 1), num(o.LatencyP50Ms, 1))
		p("  at %s spans/s; the median of the 1-second windows' p99 is %s ms, and %d of %d windows saw a sample over %d ms.\n",
			num(o.Load.Rate, 0), num(o.WindowP99MedianMs, 1), o.StallWindows, o.Windows, stallMs)
		if ref, ok := r.get(scGraphLatency, reference); ok {
			p("  The reference in the same conditions: p99 %s ms, window median %s ms, %d of %d windows over %d ms.\n",
				num(ref.LatencyP99Ms, 1), num(ref.WindowP99MedianMs, 1), ref.StallWindows, ref.Windows, stallMs)
		}
	} else {
		p("- p99 latency: not measured in this run.\n")
	}
	if o, ok := r.get(scGraphLatency, ours); ok {
		if base, ok := r.Baselines[scGraphLatency]; ok {
			s := wireSavings(o, base)
			p("- At least %s fewer Kafka bytes per step than full-state snapshots, append pattern: %s — %s fewer\n", percent(aimWireSaving), verdict(s >= aimWireSaving), percent(s))
			p("  (%s vs %s bytes per step; uncompressed state JSON %s bytes).\n", num(o.BytesPerStep(stateKinds...), 0), num(base.RecordPerStep, 0), num(base.StateJSONPerStep, 0))
		}
	} else {
		p("- Wire saving: not measured in this run.\n")
	}
	if o, ok := r.get(scLongLatency, ours); ok {
		if base, ok := r.Baselines[scLongLatency]; ok {
			p("  With runs of %d nodes (same states, longer): %s fewer (%s vs %s bytes per step).\n", o.Load.Workload.Nodes,
				percent(wireSavings(o, base)), num(o.BytesPerStep(stateKinds...), 0), num(base.RecordPerStep, 0))
		}
	}
	p("\n")
}

func renderMethod(b *bytes.Buffer, warmup time.Duration) {
	b.WriteString(`### How it is measured

- *Load*: ` + "`bench/loadgen`" + ` marshals one generation of requests once and replays it, patching only run ids,
  trace ids and timestamps in the bytes, so it costs a small fraction of a collector's CPU per span (row
  "load generator CPU-seconds"); every span ends at the moment its request is sent. A generation
  started before the end of the run is finished, so every run sent is complete.
- *Sustained spans/s*: spans accepted ÷ time from the first request until the topic's end offsets stopped
  moving (the exporter queue drained), so queued work is not counted as throughput.
- *CPU*: utime + stime of the collector process (` + "`/proc/<pid>/stat`" + `) over that interval; peak RSS is
  ` + "`VmHWM`" + `. The dev Kafka runs in its own process, measured the same way.
- *Latency*: at a fixed rate the harness consumes the topic while the load runs (franz-go, fetches woken
  by kfake as records arrive) and takes, per record, receive time − span end time: for ours the
  NODE_END / GRAPH_END events (their header ` + "`timestamp_us`" + ` is the span end), for the reference every
  span in every OTLP record. The *Kafka leg* is receive time − the record's timestamp, which the
  producer client (sarama, franz-go) stamps when the exporter hands the record over: linger, produce
  and fetch; the rest is the collector's. Sender, collector and consumer share the machine's clock. Spans that
  ended in the first ` + warmup.String() + ` of a run (connection and metadata set-up) are left out.
- Records and bytes are counted by consuming the whole topic after the run.
- *Rounds*: this virtual machine's speed drifts by tens of percent within minutes, so one pair of runs
  can favour either side. ` + "`-rounds N`" + ` measures every scenario N times per collector, alternating which
  runs first, and judges the aims by the median of the per-round ratios (table "Paired rounds").
`)
	b.WriteString("\n")
}

// relPath shows paths under the working directory relative to it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	return strings.TrimPrefix(p, wd+"/")
}

// renderProfileShares breaks the CPU profiles of a scenario down by the
// parts of the work in profileSpots.
func renderProfileShares(b *bytes.Buffer, t tableWriter, r *results, sc scenario) {
	var have bool
	for _, c := range r.Collectors {
		if mm, ok := r.get(sc.Name, c.Name); ok && len(mm.ProfileShares) > 0 {
			have = true
		}
	}
	if !have {
		return
	}
	fmt.Fprintf(b, "Where the CPU goes (pprof, share of all samples of the collector process; nested rows overlap):\n\n")
	cols := []string{"work (function)"}
	for _, c := range r.Collectors {
		cols = append(cols, c.Label)
	}
	t.header("right", cols...)
	for _, s := range profileSpots {
		cells := []string{s.label}
		any := false
		for _, c := range r.Collectors {
			mm, ok := r.get(sc.Name, c.Name)
			if v, found := mm.ProfileShares[s.label]; ok && found {
				cells = append(cells, num(v, 1)+"%")
				any = true
			} else {
				cells = append(cells, "—")
			}
		}
		if any {
			t.row(cells...)
		}
	}
	b.WriteString("\n")
}
