package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// profile takes a CPU profile of the collector over the middle of the run
// and then its allocation and live-heap profile (pprof extension), and writes the
// `go tool pprof` views of both to one text file. It returns that file's
// path, or an explanation when it could not.
func profile(ctx context.Context, e env, c collectorSpec, sc scenario, logBase string) string {
	const skip = 3 * time.Second
	secs := int((sc.Duration - 2*skip).Seconds())
	if secs < 3 {
		return "profile skipped: run too short"
	}
	select {
	case <-ctx.Done():
		return "profile skipped: cancelled"
	case <-time.After(skip):
	}
	cpuPath, allocPath := logBase+"-cpu.pprof", logBase+"-allocs.pprof"
	if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", e.pprof, secs), cpuPath); err != nil {
		return "profile failed: " + err.Error()
	}
	if err := fetchProfile(ctx, fmt.Sprintf("http://%s/debug/pprof/allocs", e.pprof), allocPath); err != nil {
		return "allocation profile failed: " + err.Error()
	}
	var out bytes.Buffer
	for _, view := range [][]string{
		{"-top", "-nodecount=40", c.Bin, cpuPath},
		{"-top", "-cum", "-nodecount=60", c.Bin, cpuPath},
		{"-top", "-sample_index=alloc_space", "-nodecount=30", c.Bin, allocPath},
		// The same file holds the live heap at the end of the CPU profile.
		{"-top", "-sample_index=inuse_space", "-nodecount=30", c.Bin, allocPath},
	} {
		fmt.Fprintf(&out, "$ go tool pprof %v\n", view)
		cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, view...)...)
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if err != nil {
			fmt.Fprintf(&out, "(pprof failed: %v)\n", err)
		}
		out.WriteString("\n")
	}
	top := logBase + "-profile.txt"
	if err := os.WriteFile(top, out.Bytes(), 0o644); err != nil {
		return "profile text not written: " + err.Error()
	}
	return top
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
