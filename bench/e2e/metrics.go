package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// receiverCounts are the collector's own receiver counters.
type receiverCounts struct {
	Accepted int64 `json:"accepted"`
	Refused  int64 `json:"refused"`
}

// scrapeReceiver reads the collector's Prometheus endpoint and sums the
// otlp receiver's accepted and refused span counters.
func scrapeReceiver(ctx context.Context, addr string) (receiverCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return receiverCounts{}, fmt.Errorf("metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return receiverCounts{}, fmt.Errorf("scraping %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return receiverCounts{}, fmt.Errorf("scraping %s: HTTP %s", addr, resp.Status)
	}
	return parseReceiverCounts(resp.Body)
}

// parseReceiverCounts sums the samples of the accepted and refused span
// counters in Prometheus text format.
func parseReceiverCounts(r io.Reader) (receiverCounts, error) {
	var c receiverCounts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "otelcol_receiver_accepted_spans"):
			dst = &c.Accepted
		case strings.HasPrefix(line, "otelcol_receiver_refused_spans"):
			dst = &c.Refused
		default:
			continue
		}
		// name{labels} value [timestamp]: the value is the first field
		// after the labels (label values may hold spaces).
		rest := line
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			rest = line[i+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			rest = line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return c, fmt.Errorf("metric line %q has no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return c, fmt.Errorf("metric line %q: %w", line, err)
		}
		*dst += int64(v)
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("reading metrics: %w", err)
	}
	return c, nil
}
