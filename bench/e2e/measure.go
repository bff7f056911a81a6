package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// collectorSpec is one side of the comparison.
type collectorSpec struct {
	Name    string // short name: ours, reference
	Label   string // what the tables call it
	Bin     string
	Config  string
	Decoder func() (recordDecoder, error)
}

// scenario is one load applied to every collector.
type scenario struct {
	Name        string
	Title       string
	Workload    workload.Config
	Rate        float64 // spans/s; 0 = saturation
	Concurrency int
	Duration    time.Duration
	Profile     bool
	// Driver is the load generator: driverLoadgen (default) or driverTelemetrygen.
	Driver string
}

func (s scenario) driver() string {
	if s.Driver == "" {
		return driverLoadgen
	}
	return s.Driver
}

// live says whether latency is measured (records consumed while the load
// runs): only at a fixed rate, where the consumer does not steal CPU from a
// saturated collector.
func (s scenario) live() bool { return s.Rate > 0 }

// measurement is the outcome of one scenario on one collector.
type measurement struct {
	Collector string              `json:"collector"`
	Scenario  string              `json:"scenario"`
	Load      workload.LoadResult `json:"load"`
	// ActiveSeconds runs from the first request to the last record that
	// reached Kafka (the queue drained).
	ActiveSeconds       float64     `json:"active_seconds"`
	CollectorCPUSeconds float64     `json:"collector_cpu_seconds"`
	KafkaCPUSeconds     float64     `json:"kafka_cpu_seconds"`
	PeakRSSKiB          int64       `json:"peak_rss_kib"`
	Kafka               recordStats `json:"kafka"`
	// Verify is the last line of `dashstream verify` on our topic.
	Verify string `json:"verify,omitempty"`
	// Receiver is the collector's own count of spans it took in.
	Receiver       receiverCounts `json:"receiver"`
	LatencyP50Ms   float64        `json:"latency_p50_ms"`
	LatencyP99Ms   float64        `json:"latency_p99_ms"`
	LatencyMaxMs   float64        `json:"latency_max_ms"`
	LatencySamples int            `json:"latency_samples"`
	// WindowP99MedianMs is the median over 1-second windows (by span end)
	// of each window's p99: what a steady load sees when a few stalls of
	// the shared machine are set aside. StallWindows counts the windows
	// whose worst latency exceeded stallMs.
	WindowP99MedianMs float64 `json:"window_p99_median_ms"`
	// KafkaLeg*: record timestamp (producer call) → received.
	KafkaLegP50Ms float64 `json:"kafka_leg_p50_ms"`
	KafkaLegP99Ms float64 `json:"kafka_leg_p99_ms"`
	StallWindows  int     `json:"stall_windows"`
	Windows       int     `json:"windows"`
	LoadAvgBefore float64 `json:"loadavg_before"`
	LoadAvgAfter  float64 `json:"loadavg_after"`
	ProfileTop    string  `json:"profile_top,omitempty"`
	// ProfileShares are cumulative shares (%) of the CPU profile's samples
	// for the hot-spot labels of profileSpots.
	ProfileShares map[string]float64 `json:"profile_shares,omitempty"`
}

// SpansPerSecond is the sustained rate: spans accepted over the time until
// all of them reached Kafka.
func (m measurement) SpansPerSecond() float64 {
	return safeDiv(float64(m.Load.SpansOK), m.ActiveSeconds)
}

// CPUPerMillionSpans is the collector's CPU-seconds per million spans.
func (m measurement) CPUPerMillionSpans() float64 {
	return safeDiv(m.CollectorCPUSeconds, float64(m.Load.SpansOK)) * 1e6
}

// KafkaCPUPerMillionSpans is the dev Kafka's CPU-seconds per million spans.
func (m measurement) KafkaCPUPerMillionSpans() float64 {
	return safeDiv(m.KafkaCPUSeconds, float64(m.Load.SpansOK)) * 1e6
}

func (m measurement) RecordsPerSecond() float64 {
	return safeDiv(float64(m.Kafka.Records), m.ActiveSeconds)
}

func (m measurement) BytesPerSecond() float64 {
	return safeDiv(float64(m.Kafka.Bytes), m.ActiveSeconds)
}

func (m measurement) BytesPerSpan() float64 {
	return safeDiv(float64(m.Kafka.Bytes), float64(m.Load.SpansOK))
}

// BytesPerStep divides Kafka bytes of the given kinds (all when none) by the
// node steps sent.
func (m measurement) BytesPerStep(kinds ...string) float64 {
	n := m.Kafka.Bytes
	if len(kinds) > 0 {
		n = 0
		for _, k := range kinds {
			if s := m.Kafka.ByKind[k]; s != nil {
				n += s.Bytes
			}
		}
	}
	return safeDiv(float64(n), float64(m.Load.NodeSpansOK))
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// env is what every measurement shares.
type env struct {
	workdir      string
	devkafka     string
	loadgen      string
	brokers      string
	otlp         string
	pprof        string
	metricsPort  string
	telemetrygen string
	// dashstreamCLI, when set, verifies our streams after fixed-rate runs.
	dashstreamCLI string
	clockTicks    float64
	drainStable   time.Duration
	warmup        time.Duration
	log           io.Writer
}

// measure runs one scenario against one collector with a fresh dev Kafka,
// and stops everything it started before returning.
func measure(ctx context.Context, e env, c collectorSpec, sc scenario) (measurement, error) {
	m := measurement{Collector: c.Name, Scenario: sc.Name}
	topic := fmt.Sprintf("bench-%s-%s", sc.Name, c.Name)
	logBase := filepath.Join(e.workdir, "logs", sc.Name+"-"+c.Name)
	if err := os.MkdirAll(filepath.Dir(logBase), 0o755); err != nil {
		return m, fmt.Errorf("creating log directory: %w", err)
	}

	kafka, err := startChild(ctx, "devkafka", logBase+"-devkafka.log", nil, "devkafka ready",
		e.devkafka, "-listen", e.brokers, "-topics", topic, "-partitions", "3")
	if err != nil {
		return m, err
	}
	defer kafka.stop()

	col, err := startChild(ctx, c.Name, logBase+"-collector.log", []string{
		"BENCH_OTLP_ENDPOINT=" + e.otlp,
		"BENCH_KAFKA_BROKERS=" + e.brokers,
		"BENCH_TOPIC=" + topic,
		"BENCH_PPROF_ENDPOINT=" + e.pprof,
		"BENCH_METRICS_PORT=" + e.metricsPort,
	}, "", c.Bin, "--config", c.Config)
	if err != nil {
		return m, err
	}
	defer col.stop()
	if err := waitTCP(ctx, e.otlp, col, 90*time.Second); err != nil {
		return m, err
	}

	admin, err := kgo.NewClient(kgo.SeedBrokers(e.brokers))
	if err != nil {
		return m, fmt.Errorf("admin client: %w", err)
	}
	defer admin.Close()

	decode, err := c.Decoder()
	if err != nil {
		return m, err
	}
	var cons *consumer
	if sc.live() {
		if cons, err = startConsumer(ctx, e.brokers, topic, decode, true); err != nil {
			return m, err
		}
	}

	m.LoadAvgBefore = loadAverage()
	cpu0, err := procCPU(col.pid(), e.clockTicks)
	if err != nil {
		return m, err
	}
	kcpu0, err := procCPU(kafka.pid(), e.clockTicks)
	if err != nil {
		return m, err
	}

	profDone := make(chan profileResult, 1)
	if sc.Profile {
		go func() { profDone <- profile(ctx, e, c, sc, logBase) }()
	} else {
		profDone <- profileResult{}
	}

	if m.Load, err = driveLoad(ctx, e, c, sc, logBase); err != nil {
		return m, err
	}

	total, lastChange, err := drain(ctx, e, admin, topic)
	if err != nil {
		return m, err
	}
	m.ActiveSeconds = lastChange.Sub(time.Unix(0, m.Load.StartUnixNano)).Seconds()
	cpu1, err := procCPU(col.pid(), e.clockTicks)
	if err != nil {
		return m, err
	}
	kcpu1, err := procCPU(kafka.pid(), e.clockTicks)
	if err != nil {
		return m, err
	}
	m.CollectorCPUSeconds = cpu1 - cpu0
	m.KafkaCPUSeconds = kcpu1 - kcpu0
	if m.PeakRSSKiB, err = procPeakRSS(col.pid()); err != nil {
		return m, err
	}
	m.LoadAvgAfter = loadAverage()
	if m.Receiver, err = scrapeReceiver(ctx, "127.0.0.1:"+e.metricsPort); err != nil {
		return m, err
	}
	if sc.driver() == driverTelemetrygen {
		// telemetrygen cannot tell what was accepted; the receiver can.
		m.Load.SpansOK = m.Receiver.Accepted
	}
	prof := <-profDone
	m.ProfileTop, m.ProfileShares = prof.text, prof.shares

	if cons == nil {
		if cons, err = startConsumer(ctx, e.brokers, topic, decode, false); err != nil {
			return m, err
		}
	}
	stats, err := cons.waitFor(ctx, total, 5*time.Minute)
	m.Kafka = stats
	if err != nil {
		return m, err
	}
	if len(stats.Latencies) > 0 {
		if err := writeLatencies(logBase+"-latency.csv", stats.Latencies); err != nil {
			return m, err
		}
	}
	notBefore := time.Unix(0, m.Load.StartUnixNano).Add(e.warmup)
	m.WindowP99MedianMs, m.StallWindows, m.Windows = windowedP99(stats.Latencies, notBefore, time.Second, stallMs)
	if e.dashstreamCLI != "" && c.Name == ours && sc.live() && sc.Workload.Kind == workload.KindGraph {
		m.Verify = verifyStream(ctx, e, topic, logBase)
	}
	lat := warmLatencies(stats.Latencies, notBefore)
	slices.Sort(lat)
	legs := kafkaLegs(stats.Latencies, notBefore)
	slices.Sort(legs)
	m.KafkaLegP50Ms = ms(quantile(legs, 0.50))
	m.KafkaLegP99Ms = ms(quantile(legs, 0.99))
	m.LatencySamples = len(lat)
	m.LatencyP50Ms = ms(quantile(lat, 0.50))
	m.LatencyP99Ms = ms(quantile(lat, 0.99))
	if len(lat) > 0 {
		m.LatencyMaxMs = ms(lat[len(lat)-1])
	}
	return m, nil
}

// stallMs marks a latency window as stalled (the aim's p99 bound).
const stallMs = 250

// windowedP99 groups samples after notBefore into windows by span end and
// returns the median of the windows' p99, how many windows had a sample
// above stall ms, and the number of windows.
func windowedP99(samples []latencySample, notBefore time.Time, window time.Duration, stall float64) (float64, int, int) {
	byWindow := map[int64][]time.Duration{}
	for _, s := range samples {
		if s.end.Before(notBefore) {
			continue
		}
		k := int64(s.end.Sub(notBefore) / window)
		byWindow[k] = append(byWindow[k], s.d)
	}
	if len(byWindow) == 0 {
		return 0, 0, 0
	}
	p99s := make([]time.Duration, 0, len(byWindow))
	stalls := 0
	for _, ds := range byWindow {
		slices.Sort(ds)
		p99s = append(p99s, quantile(ds, 0.99))
		if ms(ds[len(ds)-1]) > stall {
			stalls++
		}
	}
	slices.Sort(p99s)
	return ms(quantile(p99s, 0.5)), stalls, len(byWindow)
}

// verifyStream replays our topic with `dashstream verify` (cmd/dashstream)
// and returns its verdict line, so the figures are known to describe a
// valid stream.
func verifyStream(ctx context.Context, e env, topic, logBase string) string {
	logf, err := os.Create(logBase + "-verify.log")
	if err != nil {
		return "verify not run: " + err.Error()
	}
	defer logf.Close()
	vctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := runOutput(vctx, logf, e.dashstreamCLI, "verify", "-brokers", e.brokers, "-topic", topic, "-color", "never")
	_, _ = logf.Write(out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if err != nil {
		return fmt.Sprintf("FAILED (%v): %s", err, last)
	}
	return last
}

// kafkaLegs returns the Kafka legs of the samples after notBefore that
// have one.
func kafkaLegs(samples []latencySample, notBefore time.Time) []time.Duration {
	var out []time.Duration
	for _, s := range samples {
		if !s.end.Before(notBefore) && s.kafka >= 0 {
			out = append(out, s.kafka)
		}
	}
	return out
}

// writeLatencies saves every sample (span end in Unix ms, latency in ms) so
// a tail can be traced to a moment of the run.
func writeLatencies(path string, samples []latencySample) error {
	var b bytes.Buffer
	b.WriteString("span_end_unix_ms,latency_ms,kafka_leg_ms\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%d,%.3f,%.3f\n", s.end.UnixMilli(), ms(s.d), ms(s.kafka))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing latencies: %w", err)
	}
	return nil
}

// warmLatencies keeps the samples of spans that ended after the warm-up:
// connection setup, metadata fetches and first allocations of both
// collectors are not what a steady moderate load sees.
func warmLatencies(samples []latencySample, notBefore time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if !s.end.Before(notBefore) {
			out = append(out, s.d)
		}
	}
	return out
}

// drain polls the topic's end offsets, once the load generator has ended,
// until they stop moving, and returns the record count and when it last grew
// (the first poll's time when it never did).
func drain(ctx context.Context, e env, admin *kgo.Client, topic string) (int64, time.Time, error) {
	deadline := time.Now().Add(3 * time.Minute)
	var last int64 = -1
	lastChange := time.Now()
	for {
		n, err := endOffsets(ctx, admin, topic)
		if err != nil {
			return 0, time.Time{}, err
		}
		now := time.Now()
		if n != last {
			last, lastChange = n, now
		} else if now.Sub(lastChange) >= e.drainStable {
			// An empty topic is a valid outcome: our exporter writes
			// nothing for spans without graph information.
			return n, lastChange, nil
		}
		if now.After(deadline) {
			return n, lastChange, fmt.Errorf("topic %s still growing (%d records) after 3m", topic, n)
		}
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }
