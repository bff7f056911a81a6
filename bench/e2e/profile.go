package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// profile takes a CPU profile of the collector over the middle of the run
// and then its allocation and live-heap profile (pprof extension), and writes the
// `go tool pprof` views of both to one text file. It returns that file's
// path, or an explanation when it could not.
func profile(ctx context.Context, e env, c collectorSpec, sc scenario, logBase string) profileResult {
	const skip = 3 * time.Second
	secs := int((sc.Duration - 2*skip).Seconds())
	if secs < 3 {
		return profileResult{text: "profile skipped: run too short"}
	}
	select {
	case <-ctx.Done():
		return profileResult{text: "profile skipped: cancelled"}
	case <-time.After(skip):
	}
	cpuPath, allocPath := logBase+"-cpu.pprof", logBase+"-allocs.pprof"
	if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", e.pprof, secs), cpuPath); err != nil {
		return profileResult{text: "profile failed: " + err.Error()}
	}
	if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/allocs", e.pprof), allocPath); err != nil {
		return profileResult{text: "allocation profile failed: " + err.Error()}
	}
	var out bytes.Buffer
	var shares map[string]float64
	for i, view := range [][]string{
		{"-top", "-nodecount=40", c.Bin, cpuPath},
		{"-top", "-cum", "-nodecount=400", c.Bin, cpuPath},
		{"-top", "-sample_index=alloc_space", "-nodecount=30", c.Bin, allocPath},
		// The same file holds the live heap at the end of the CPU profile.
		{"-top", "-sample_index=inuse_space", "-nodecount=30", c.Bin, allocPath},
	} {
		fmt.Fprintf(&out, "$ go tool pprof %v\n", view)
		cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, view...)...)
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if i == 1 && err == nil {
			shares = parseShares(string(b))
		}
		if err != nil {
			fmt.Fprintf(&out, "(pprof failed: %v)\n", err)
		}
		out.WriteString("\n")
	}
	top := logBase + "-profile.txt"
	if err := os.WriteFile(top, out.Bytes(), 0o644); err != nil {
		return profileResult{text: "profile text not written: " + err.Error(), shares: shares}
	}
	return profileResult{text: top, shares: shares}
}

// profileResult is where the profile views went and the hot-spot shares.
type profileResult struct {
	text   string
	shares map[string]float64
}

// profileSpot names a part of the work by the function that does it.
type profileSpot struct {
	label string
	re    *regexp.Regexp
}

// profileSpots are the parts of both collectors' work the docs break down;
// a spot whose function is not in a profile shows as "—".
var profileSpots = []profileSpot{
	{"OTLP request unmarshal (receiver)", regexp.MustCompile(`internal\.\(\*ResourceSpans\)\.UnmarshalProto$`)},
	{"translation, all of it (Translator.Translate)", regexp.MustCompile(`translate\.\(\*Translator\)\.Translate$`)},
	{"state snapshots (diff, hash, encode a StateDiff)", regexp.MustCompile(`translate\.\(\*emitter\)\.snapshot$`)},
	{"parsing the state JSON", regexp.MustCompile(`translate\.parseState$`)},
	{"redaction of the state", regexp.MustCompile(`translate\.\(\*redactor\)\.redact[A-Za-z]*$`)},
	{"JSON Patch diff", regexp.MustCompile(`translate\.diffStates$`)},
	{"state hash (canonical JSON + SHA-256)", regexp.MustCompile(`dashstream\.StateHash$`)},
	{"checkpoints", regexp.MustCompile(`translate\.\(\*emitter\)\.checkpoint$`)},
	{"lifecycle events", regexp.MustCompile(`translate\.\(\*emitter\)\.event$`)},
	{"record encoding (protobuf + zstd framing)", regexp.MustCompile(`dashstream\.\(\*Encoder\)\.Encode$`)},
	{"zstd compression", regexp.MustCompile(`zstd\.\(\*Encoder\)\.EncodeAll$`)},
	{"OTLP marshal for Kafka (reference)", regexp.MustCompile(`ptrace\.\(\*ProtoMarshaler\)\.MarshalTraces$`)},
	{"Kafka client: sarama", regexp.MustCompile(`sarama\.withRecover$`)},
	{"Kafka client: franz-go", regexp.MustCompile(`franz-go/pkg/kgo\.\(\*broker\)\.handleReqs$`)},
	{"memory allocation (runtime.mallocgc)", regexp.MustCompile(`runtime\.mallocgc$`)},
	{"GC background marking", regexp.MustCompile(`runtime\.gcBgMarkWorker$`)},
}

// parseShares reads a `pprof -top -cum` listing (flat flat% sum% cum cum%
// name) and returns, per profile spot, the largest cum% among matching
// functions.
func parseShares(listing string) map[string]float64 {
	shares := map[string]float64{}
	for _, line := range strings.Split(listing, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err != nil {
			continue
		}
		name := strings.Join(f[5:], " ")
		for _, s := range profileSpots {
			if s.re.MatchString(name) && pct > shares[s.label] {
				shares[s.label] = pct
			}
		}
	}
	return shares
}

// fetchProfile saves the body of a pprof endpoint to path.
func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return f.Close()
}
