package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func TestFormatLine(t *testing.T) {
	b := newStream(t, "thread-1", 100)
	big := `{"messages":["` + strings.Repeat("x", 2000) + `"]}`
	tests := []struct {
		name string
		msg  *dashstreampb.DashStreamMessage
		want string
	}{
		{"graph start", b.graphStart(`{"messages":["hello there, a long first message"],"topic":"stream processing in depth","counter":0}`),
			"12:00:00.001  thread-1              seq=100  graph_start                     graph=g run=run-1 initial state 99 B"},
		{"node start", b.event(dashstreampb.EventType_EVENT_TYPE_NODE_START, "draft", map[string]*dashstreampb.AttributeValue{"step": num(3)}),
			"12:00:00.002  thread-1              seq=101  node_start          draft       step=3"},
		{"patch", b.diffTo(`{"messages":["hello there, a long first message","a","b"],"topic":"stream processing in depth","counter":1}`),
			"12:00:00.003  thread-1              seq=102  state_diff                      +2 ops: replace /messages, replace /counter"},
		{"one op", b.diffTo(`{"messages":["hello there, a long first message","a","b"],"topic":"stream processing in depth","counter":2}`),
			"12:00:00.004  thread-1              seq=103  state_diff                      +1 op: replace /counter"},
		{"many ops", b.diffTo(`{"messages":["hello there, a long first message","a","b"],"topic":"stream processing in depth","counter":3,"w":1,"x":2,"y":3}`),
			"12:00:00.005  thread-1              seq=104  state_diff                      +4 ops: replace /counter, add /w, add /x, …"},
		{"full state", b.fullState(big),
			"12:00:00.006  thread-1              seq=105  state_diff                      full state 2.0 KiB"},
		{"node end float duration", b.event(dashstreampb.EventType_EVENT_TYPE_NODE_END, "draft", map[string]*dashstreampb.AttributeValue{"duration_us": flt(1500)}),
			"12:00:00.007  thread-1              seq=106  node_end            draft       duration=1.5ms"},
		{"conditional branch", b.event(dashstreampb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH, "review",
			map[string]*dashstreampb.AttributeValue{"from": str("review"), "to": str("draft"), "condition": str("draft")}),
			"12:00:00.008  thread-1              seq=107  conditional_branch  review      review → draft condition=draft"},
		{"llm end", b.event(dashstreampb.EventType_EVENT_TYPE_LLM_END, "draft", map[string]*dashstreampb.AttributeValue{
			"model": str("fake-llm-1"), "input_tokens": num(12), "output_tokens": num(7), "finish_reason": str("stop")}),
			"12:00:00.009  thread-1              seq=108  llm_end             draft       model=fake-llm-1 tokens=12/7 finish=stop"},
		{"tool start", b.event(dashstreampb.EventType_EVENT_TYPE_TOOL_START, "research", map[string]*dashstreampb.AttributeValue{
			"tool_name": str("web_search"), "call_id": str("c1")}),
			"12:00:00.010  thread-1              seq=109  tool_start          research    tool=web_search call=c1"},
		{"node error", b.event(dashstreampb.EventType_EVENT_TYPE_NODE_ERROR, "draft", map[string]*dashstreampb.AttributeValue{
			"error": str("boom\nsecond line"), "exception_type": str("ValueError")}),
			"12:00:00.011  thread-1              seq=110  node_error          draft       error=boom second line type=ValueError"},
		{"checkpoint", b.checkpoint(),
			"12:00:00.012  thread-1              seq=111  checkpoint          review      state 2.0 KiB, reason=interval, step=4"},
		{"other event attrs", b.event(dashstreampb.EventType_EVENT_TYPE_HUMAN_INTERRUPT, "review", map[string]*dashstreampb.AttributeValue{
			"z": str("last"), "a": num(1), "b": str(strings.Repeat("long ", 30)), "c": num(3)}),
			"12:00:00.013  thread-1              seq=112  human_interrupt     review      a=1 b=long long long long long long long long long long long long… c=3 …"},
		{"empty message", &dashstreampb.DashStreamMessage{},
			"00:00:00.000                        seq=0  empty                           no message set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, formatLine(tt.msg, style{}))
		})
	}
}

func TestFormatLineColour(t *testing.T) {
	b := newStream(t, "t", 1)
	line := formatLine(b.event(dashstreampb.EventType_EVENT_TYPE_NODE_ERROR, "n", nil), style{color: true})
	require.Contains(t, line, sgrRed+"node_error"+sgrReset)
	require.Contains(t, line, sgrReset)
	plain := formatLine(b.event(dashstreampb.EventType_EVENT_TYPE_NODE_ERROR, "n", nil), style{})
	require.NotContains(t, plain, "\x1b[")
}

func TestDecideColor(t *testing.T) {
	tests := []struct {
		mode    string
		tty     bool
		noColor string
		want    bool
		valid   bool
	}{
		{"auto", true, "", true, true},
		{"auto", false, "", false, true},
		{"auto", true, "1", false, true},
		{"", true, "", true, true},
		{"always", false, "1", true, true},
		{"never", true, "", false, true},
		{"sometimes", true, "", false, false},
	}
	for _, tt := range tests {
		got, ok := decideColor(tt.mode, tt.tty, tt.noColor)
		require.Equal(t, tt.valid, ok, tt)
		require.Equal(t, tt.want, got, tt)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 3 << 20: "3.0 MiB"} {
		require.Equal(t, want, humanBytes(n))
	}
}

func TestThreadFilter(t *testing.T) {
	var f threadFilter
	require.True(t, f.match("anything"))
	require.NoError(t, f.Set("demo-*"))
	require.NoError(t, f.Set("exact"))
	require.True(t, f.match("demo-1"))
	require.True(t, f.match("exact"))
	require.False(t, f.match("exactly"))
	require.False(t, f.match("other"))
	require.Error(t, f.Set("[bad"))
}
