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

// profileSpot names a part of the work by the function that does it: fn
// is the function as pprof prints it without the module path, for example
// "dashstream/translate.(*emitter).snapshot"; ours says it is a function of
// this repository (TestProfileSpotsExist keeps those names current).
type profileSpot struct {
	label string
	fn    string
	ours  bool
	re    *regexp.Regexp
}

// spot builds a profileSpot matching fn at the end of a pprof name.
func spot(label, fn string, ours bool) profileSpot {
	return profileSpot{label: label, fn: fn, ours: ours, re: regexp.MustCompile(`(^|/)` + regexp.QuoteMeta(fn) + `$`)}
}

// profileSpots are the parts of both collectors' work the docs break down;
// a spot whose function is not in a profile shows as "—".
var profileSpots = []profileSpot{
	spot("gRPC receive and OTLP unmarshal (receiver)", "google.golang.org/grpc.(*serverStream).RecvMsg", false),
	spot("OTLP request unmarshal (receiver)", "pdata/internal.(*ResourceSpans).UnmarshalProto", false),
	spot("translation, all of it (Translator.Translate)", "dashstream/translate.(*Translator).Translate", true),
	spot("reading and classifying spans (collect)", "dashstream/translate.(*Translator).collect", true),
	spot("runs and threads (assemble)", "dashstream/translate.(*Translator).assemble", true),
	spot("state snapshots (build, diff, hash, encode a StateDiff)", "dashstream/translate.(*emitter).snapshot", true),
	spot("state document build (scan, redaction, canonical text, hash)", "dashstream.buildStateDoc", true),
	spot("state hash (SHA-256 of the canonical text)", "dashstream.hashWithMarks", true),
	spot("JSON Patch diff", "dashstream/translate.diffStates", true),
	spot("checkpoints", "dashstream/translate.(*emitter).checkpoint", true),
	spot("lifecycle events", "dashstream/translate.(*emitter).event", true),
	spot("resting session states (s2)", "dashstream/translate.(*emitter).restState", true),
	spot("record encoding (protobuf, frames)", "dashstream.(*Encoder).EncodeLater", true),
	spot("the call's zstd frames", "dashstream/translate.(*Result).finish", true),
	spot("zstd compression", "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll", false),
	spot("OTLP marshal for Kafka (reference)", "pdata/ptrace.(*ProtoMarshaler).MarshalTraces", false),
	spot("Kafka produce requests: sarama (ours)", "github.com/IBM/sarama.(*Broker).Produce", false),
	spot("Kafka client: franz-go (reference)", "github.com/twmb/franz-go/pkg/kgo.(*broker).handleReqs", false),
	spot("memory allocation (runtime.mallocgc)", "runtime.mallocgc", false),
	spot("GC background marking", "runtime.gcBgMarkWorker", false),
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
