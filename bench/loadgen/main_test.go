package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/dashstream/dashstreamexporter/bench/internal/workload"
)

// countingServer is an OTLP trace service that records what it receives.
type countingServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu      sync.Mutex
	spans   int
	threads map[string]int
}

func (s *countingServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				s.spans++
				if v, ok := spans.At(k).Attributes().Get("dashstream.thread_id"); ok {
					s.threads[v.Str()]++
				}
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

func startServer(t *testing.T) (*countingServer, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	cs := &countingServer{threads: map[string]int{}}
	ptraceotlp.RegisterGRPCServer(srv, cs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return cs, lis.Addr().String()
}

func TestRunAgainstOTLPServer(t *testing.T) {
	cs, addr := startServer(t)
	var out bytes.Buffer
	err := run(context.Background(), []string{
		"-endpoint", addr, "-duration", "200ms", "-concurrency", "2",
		"-threads", "3", "-nodes", "4", "-state-bytes", "64", "-message-bytes", "16",
	}, &out, io.Discard)
	require.NoError(t, err)

	var res workload.LoadResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	assert.Positive(t, res.SpansOK)
	assert.Zero(t, res.SpansFailed)
	assert.Equal(t, int64(0), res.SpansOK%5, "whole generations only: 3 threads x (4 nodes + graph)")
	assert.Equal(t, res.SpansOK/5*4, res.NodeSpansOK)
	assert.Equal(t, res.SpansOK/5, res.RunsCompleted)
	assert.Positive(t, res.CPUUserSeconds+res.CPUSystemSeconds)

	cs.mu.Lock()
	defer cs.mu.Unlock()
	assert.Equal(t, int(res.SpansOK), cs.spans, "the server saw every accepted span")
	assert.Equal(t, int(res.RunsCompleted), len(cs.threads), "every run has its own thread id")
	for id, n := range cs.threads {
		assert.Equal(t, 5, n, "thread %s: every span of one run carries its id", id)
	}
}

func TestRunRate(t *testing.T) {
	_, addr := startServer(t)
	var out bytes.Buffer
	// 500 spans/s for 400 ms is at most about 200 spans (fewer when a loaded
	// machine slows the calls down); whole generations of 10.
	err := run(context.Background(), []string{
		"-endpoint", addr, "-duration", "400ms", "-rate", "500", "-concurrency", "1",
		"-threads", "2", "-nodes", "4", "-kind", "plain",
	}, &out, io.Discard)
	require.NoError(t, err)
	var res workload.LoadResult
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	assert.Positive(t, res.SpansOK)
	assert.LessOrEqual(t, res.SpansOK, int64(220), "pacing keeps to the rate")
	assert.LessOrEqual(t, float64(res.SpansOK)/res.Seconds, 500*1.2)
	assert.Zero(t, res.NodeSpansOK-res.SpansOK/5*4)
}

func TestParseFlagsErrors(t *testing.T) {
	tests := [][]string{
		{"-duration", "0s"},
		{"-rate", "-1"},
		{"-concurrency", "0"},
		{"-kind", "other"},
		{"extra"},
	}
	for _, args := range tests {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, "%q", args)
	}
}

func TestRunNoServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	err = run(context.Background(), []string{"-endpoint", addr, "-duration", "50ms", "-timeout", "200ms",
		"-threads", "1", "-nodes", "1"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "no span was accepted")
}
