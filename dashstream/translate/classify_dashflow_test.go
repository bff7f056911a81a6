package translate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyDashFlow(t *testing.T) {
	tests := []struct {
		name  string
		ts    testSpan
		check func(t *testing.T, out spanInfo)
	}{
		{
			name: "graph.invoke with run id and entry point",
			ts: testSpan{name: "graph.invoke", root: true, attrs: map[string]any{
				"request_id": "0193a7c2-5f1e-7c3a-9b8d-2e4f6a8c0b1d", "graph.name": "support_agent",
				"graph.entry_point": "classify", "graph.duration_ms": 4210, "graph.nodes_executed": 5}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Equal(t, "support_agent", out.graphName)
				assert.Equal(t, "classify", out.graphEntryPoint)
				assert.Equal(t, "0193a7c2-5f1e-7c3a-9b8d-2e4f6a8c0b1d", out.runID)
				assert.Empty(t, out.threadID)
				assert.Empty(t, out.finalState)
			},
		},
		{
			name: "graph.stream",
			ts:   testSpan{name: "graph.stream", attrs: map[string]any{"graph.name": "g"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleGraph, out.role)
				assert.Empty(t, out.runID)
			},
		},
		{
			name: "node.execute",
			ts: testSpan{name: "node.execute", attrs: map[string]any{
				"node.name": "lookup", "input_size_bytes": 213, "output_size_bytes": 142, "retries_enabled": true}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleNode, out.role)
				assert.Equal(t, "lookup", out.nodeName)
				assert.False(t, out.hasStep)
				assert.Empty(t, out.stateBefore)
			},
		},
		{
			name: "node error from tracing-opentelemetry status and exception event",
			ts: testSpan{name: "node.execute", errMsg: "node 'send_reply' failed: timeout",
				exception: map[string]any{"exception.message": "node 'send_reply' failed: timeout",
					"exception.type": "dashflow::error::Error::NodeExecution", "exception.stacktrace": "0: run_node"},
				attrs: map[string]any{"node.name": "send_reply"}},
			check: func(t *testing.T, out spanInfo) {
				assert.True(t, out.failed)
				assert.Equal(t, "node 'send_reply' failed: timeout", out.errorMessage)
				assert.Equal(t, "dashflow::error::Error::NodeExecution", out.exceptionType)
				assert.Equal(t, "0: run_node", out.stackTrace)
			},
		},
		{
			name: "llm.generate",
			ts: testSpan{name: "llm.generate", attrs: map[string]any{
				"llm.model": "gpt-4o-mini", "llm.input_tokens": 212, "llm.output_tokens": 48}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, "gpt-4o-mini", out.model)
				assert.Equal(t, int64(260), out.totalTokens)
				assert.True(t, out.hasTokens)
			},
		},
		{
			name: "llm.stream with token counts as strings",
			ts:   testSpan{name: "llm.stream", attrs: map[string]any{"llm.input_tokens": "7", "llm.output_tokens": "x"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleLLM, out.role)
				assert.Equal(t, int64(7), out.inputTokens)
				assert.Equal(t, int64(7), out.totalTokens)
			},
		},
		{
			name: "checkpoint.save names the trace's thread",
			ts: testSpan{name: "checkpoint.save", attrs: map[string]any{
				"thread_id": "support-7f3a", "checkpoint_id": "c1"}},
			check: func(t *testing.T, out spanInfo) {
				assert.Equal(t, roleCheckpointSave, out.role)
				assert.Equal(t, "support-7f3a", out.threadID)
				assert.True(t, out.traceWideThread)
				assert.Empty(t, out.nodeName)
			},
		},
	}
	c := newDashFlowClassifier()
	assert.Equal(t, ConventionDashFlow, c.name())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := classifyWith(t, c, tt.ts)
			require.True(t, ok)
			assert.Equal(t, ConventionDashFlow, out.convention)
			tt.check(t, out)
		})
	}
}

// TestClassifyDashFlowNeedsIdentifyingAttributes: the span names are common
// words other software uses too; without DashFlow's attributes they are not
// DashFlow's.
func TestClassifyDashFlowNeedsIdentifyingAttributes(t *testing.T) {
	c := newDashFlowClassifier()
	for _, ts := range []testSpan{
		{name: "node.execute", attrs: map[string]any{"node.id": "n1", "node.type": "http"}},
		{name: "node.execute", attrs: map[string]any{"node.name": ""}},
		{name: "graph.invoke", attrs: map[string]any{}},
		{name: "llm.generate", attrs: map[string]any{"task.type": "x"}},
		{name: "checkpoint.save", attrs: map[string]any{"sequence": 3}},
		{name: "checkpoint.save", attrs: map[string]any{"thread_id": []any{"t"}}},
		{name: "agent", attrs: map[string]any{"node.name": "a"}},
	} {
		_, ok := classifyWith(t, c, ts)
		assert.False(t, ok, "%s %v", ts.name, ts.attrs)
	}
}
