package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// readMachine describes the host from /proc; unknown fields stay "?".
func readMachine() machineInfo {
	m := machineInfo{NProc: runtime.NumCPU(), CPUModel: "?", MemGiB: "?", Kernel: "?", Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kib, err := parseStatusKiB(b, "MemTotal"); err == nil {
			m.MemGiB = strconv.FormatFloat(float64(kib)/(1<<20), 'f', 1, 64)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// clockTicks asks getconf for USER_HZ and falls back to 100.
func clockTicks(ctx context.Context) float64 {
	out, err := runOutput(ctx, io.Discard, "getconf", "CLK_TCK")
	if err != nil {
		return defaultClockTicks
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || v <= 0 {
		return defaultClockTicks
	}
	return v
}

// interestingModules are the dependencies whose versions the report names.
var interestingModules = []string{
	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter",
	"go.opentelemetry.io/collector/receiver/otlpreceiver",
	"go.opentelemetry.io/collector/otelcol",
	"github.com/IBM/sarama",
	"github.com/twmb/franz-go",
}

// versions lists, per collector binary, the Go toolchain and the versions of
// the modules that matter, read from the binary's build information.
func versions(ctx context.Context, cols []collectorSpec) []string {
	var out []string
	for _, c := range cols {
		b, err := runOutput(ctx, io.Discard, "go", "version", "-m", c.Bin)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: build info unreadable (%v)", c.Label, err))
			continue
		}
		out = append(out, c.Label+": "+summariseBuildInfo(string(b), c.Name == ours))
	}
	if rev, err := runOutput(ctx, io.Discard, "git", "rev-parse", "--short", "HEAD"); err == nil {
		out = append(out, "repository HEAD "+strings.TrimSpace(string(rev))+" (plus the working tree at run time)")
	}
	return out
}

// summariseBuildInfo picks the toolchain and interesting modules out of
// `go version -m` output.
func summariseBuildInfo(info string, isOurs bool) string {
	var parts []string
	sc := bufio.NewScanner(strings.NewReader(info))
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if _, v, ok := strings.Cut(line, ": "); ok {
				parts = append(parts, strings.TrimSpace(v))
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "dep" {
			continue
		}
		if contains(interestingModules, f[1]) || (isOurs && f[1] == "github.com/dashstream/dashstreamexporter") {
			name := f[1][strings.LastIndex(f[1], "/")+1:]
			if isOurs && f[1] == "github.com/dashstream/dashstreamexporter" {
				name, f[2] = "dashstreamexporter", "local"
			}
			parts = append(parts, name+" "+f[2])
		}
	}
	return "`" + strings.Join(parts, "`, `") + "`"
}
