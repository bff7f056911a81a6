package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// Load drivers.
const (
	driverLoadgen      = "loadgen"      // bench/loadgen, pre-built requests
	driverTelemetrygen = "telemetrygen" // contrib's telemetrygen, for comparison
)

// driveLoad runs the scenario's load generator to completion against the
// collector and returns what it sent.
func driveLoad(ctx context.Context, e env, c collectorSpec, sc scenario, logBase string) (workload.LoadResult, error) {
	logf, err := os.Create(logBase + "-" + sc.driver() + ".log")
	if err != nil {
		return workload.LoadResult{}, fmt.Errorf("creating load log: %w", err)
	}
	defer logf.Close()
	if sc.driver() == driverTelemetrygen {
		return runTelemetrygen(ctx, e, c, sc, logf)
	}
	args := loadgenArgs(e.otlp, sc)
	fmt.Fprintf(e.log, "  %s: loadgen %v\n", c.Name, args)
	out, err := runOutput(ctx, logf, append([]string{e.loadgen}, args...)...)
	if err != nil {
		return workload.LoadResult{}, err
	}
	var res workload.LoadResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &res); err != nil {
		return res, fmt.Errorf("reading loadgen result %q: %w", out, err)
	}
	return res, nil
}

func loadgenArgs(endpoint string, sc scenario) []string {
	w := sc.Workload
	return []string{
		"-endpoint", endpoint,
		"-duration", sc.Duration.String(),
		"-rate", strconv.FormatFloat(sc.Rate, 'f', -1, 64),
		"-concurrency", strconv.Itoa(sc.Concurrency),
		"-kind", w.Kind,
		"-pattern", w.Pattern,
		"-threads", strconv.Itoa(w.Threads),
		"-nodes", strconv.Itoa(w.Nodes),
		"-state-bytes", strconv.Itoa(w.StateBytes),
		"-message-bytes", strconv.Itoa(w.MessageBytes),
		"-node-duration", w.NodeDuration.String(),
		"-seed", strconv.FormatUint(w.Seed, 10),
	}
}

// generatedRe finds the per-worker count telemetrygen logs when it stops.
var generatedRe = regexp.MustCompile(`traces generated.*"traces":\s*(\d+)`)

// runTelemetrygen drives the collector with contrib's telemetrygen (plain
// spans: a parent and one child per trace, unthrottled) and reports its CPU
// from the process's rusage. It cannot say which spans were accepted, so the
// caller takes that from the collector's receiver counter.
func runTelemetrygen(ctx context.Context, e env, c collectorSpec, sc scenario, logf *os.File) (workload.LoadResult, error) {
	args := []string{"traces", "--otlp-endpoint", e.otlp, "--otlp-insecure",
		"--workers", strconv.Itoa(sc.Concurrency), "--rate", "0", "--child-spans", "1",
		"--duration", sc.Duration.String()}
	fmt.Fprintf(e.log, "  %s: telemetrygen %v\n", c.Name, args)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, e.telemetrygen, args...)
	cmd.Stdout = io.MultiWriter(logf, &out)
	cmd.Stderr = io.MultiWriter(logf, &out)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return workload.LoadResult{}, fmt.Errorf("running telemetrygen: %w", err)
	}
	end := time.Now()
	res := workload.LoadResult{
		Workload:      sc.Workload,
		Concurrency:   sc.Concurrency,
		StartUnixNano: start.UnixNano(),
		EndUnixNano:   end.UnixNano(),
		Seconds:       end.Sub(start).Seconds(),
	}
	for _, m := range generatedRe.FindAllSubmatch(out.Bytes(), -1) {
		n, err := strconv.ParseInt(string(m[1]), 10, 64)
		if err == nil {
			res.SpansGenerated += 2 * n // parent + one child span
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPUUserSeconds = tvSeconds(ru.Utime)
		res.CPUSystemSeconds = tvSeconds(ru.Stime)
		res.MaxRSSKiB = ru.Maxrss
	}
	return res, nil
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
