package workload

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func TestBuildRender(t *testing.T) {
	tests := []struct {
		kind, pattern string
	}{
		{KindGraph, PatternAppend},
		{KindGraph, PatternField},
		{KindPlain, PatternAppend},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.pattern, func(t *testing.T) {
			c := DefaultConfig()
			c.Kind, c.Pattern = tt.kind, tt.pattern
			c.Threads, c.Nodes, c.StateBytes, c.MessageBytes = 3, 4, 100, 40
			tpl, err := Build(c)
			require.NoError(t, err)
			require.Len(t, tpl.Requests, c.Nodes+1)

			const gen = uint64(0x0102030405060708)
			const now, genStart, dur = uint64(2_000_000_000_000), uint64(1_999_000_000_000), uint64(5_000)
			var spans, nodeSpans int
			for step := range tpl.Requests {
				r := &tpl.Requests[step]
				body := r.Render(nil, gen, now, genStart, dur)
				spans += r.Spans
				nodeSpans += r.NodeSpans
				req := ptraceotlp.NewExportRequest()
				require.NoError(t, req.UnmarshalProto(body))
				ss := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				require.Equal(t, c.Threads, ss.Len())
				for i := range ss.Len() {
					sp := ss.At(i)
					tid := sp.TraceID()
					assert.Equal(t, gen, binary.BigEndian.Uint64(tid[:8]))
					assert.Equal(t, uint64(i+1), binary.BigEndian.Uint64(tid[8:]))
					assert.Equal(t, now, uint64(sp.EndTimestamp()))
					if step == c.Nodes {
						assert.Equal(t, genStart-dur, uint64(sp.StartTimestamp()))
					} else {
						assert.Equal(t, now-dur, uint64(sp.StartTimestamp()))
					}
					attrs := sp.Attributes()
					if c.Kind == KindPlain {
						_, ok := attrs.Get("dashstream.span.kind")
						assert.False(t, ok, "plain spans carry no dashstream keys")
						continue
					}
					thread, ok := attrs.Get("dashstream.thread_id")
					require.True(t, ok)
					assert.Equal(t, fmt.Sprintf("bench-0102030405060708-%06d", i), thread.Str())
					if step == c.Nodes {
						kind, _ := attrs.Get("dashstream.span.kind")
						assert.Equal(t, "graph", kind.Str())
						continue
					}
					_, after, err := c.States(i)
					require.NoError(t, err)
					st, ok := attrs.Get("dashstream.state")
					require.True(t, ok)
					assert.JSONEq(t, string(after[step]), st.Str())
					stepAttr, _ := attrs.Get("dashstream.step")
					assert.Equal(t, int64(step+1), stepAttr.Int())
				}
			}
			assert.Equal(t, c.SpansPerGeneration(), spans)
			assert.Equal(t, c.NodeSpansPerGeneration(), nodeSpans)
		})
	}
}

func TestStatesPatterns(t *testing.T) {
	c := DefaultConfig()
	c.Nodes, c.StateBytes, c.MessageBytes = 5, 200, 50

	c.Pattern = PatternAppend
	initial, after, err := c.States(0)
	require.NoError(t, err)
	prev := len(initial)
	for i, s := range after {
		var v state
		require.NoError(t, json.Unmarshal(s, &v))
		assert.Len(t, v.Messages, i+2, "one message appended per step")
		assert.Greater(t, len(s), prev+c.MessageBytes-1)
		prev = len(s)
		assert.NotContains(t, string(s), "G", "no placeholder letter in generated text")
	}

	c.Pattern = PatternField
	initial, after, err = c.States(0)
	require.NoError(t, err)
	var first state
	require.NoError(t, json.Unmarshal(initial, &first))
	for i, s := range after {
		var v state
		require.NoError(t, json.Unmarshal(s, &v))
		changed := 0
		for k, val := range v.Fields {
			if first.Fields[k] != val {
				changed++
			}
		}
		assert.Equal(t, min(i+1, fieldCount), changed, "exactly one more field differs per step")
		assert.Len(t, v.Messages, 1)
	}

	_, other, err := c.States(1)
	require.NoError(t, err)
	assert.NotEqual(t, after[0], other[0], "threads get different text")
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"default", func(*Config) {}, ""},
		{"kind", func(c *Config) { c.Kind = "x" }, "kind"},
		{"pattern", func(c *Config) { c.Pattern = "x" }, "pattern"},
		{"threads", func(c *Config) { c.Threads = 0 }, "threads"},
		{"nodes", func(c *Config) { c.Nodes = 0 }, "nodes"},
		{"message", func(c *Config) { c.MessageBytes = 0 }, "message bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), tt.want), err.Error())
		})
	}
}
