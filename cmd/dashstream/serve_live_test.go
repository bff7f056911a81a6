package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

func feedLive(t *testing.T, m *liveModel, msgs ...*dashstreampb.DashStreamMessage) {
	t.Helper()
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	require.NoError(t, err)
	for _, v := range encode(t, msgs...) {
		m.add(dec, v)
	}
}

func jsonEq(t *testing.T, want string, got json.RawMessage) {
	t.Helper()
	require.JSONEq(t, want, string(got))
}

func TestLiveModelThreadView(t *testing.T) {
	m := newLiveModel(defaultLiveLimits())
	b := newStream(t, "t1", 10)
	msgs := b.run()
	// A conditional branch back to plan, then a corrupted diff.
	msgs = append(msgs, b.event(dashstreampb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH, "draft",
		map[string]*dashstreampb.AttributeValue{"from": str("draft"), "to": str("plan"), "condition": str("needs_work"), "branch": str("plan")}))
	bad := b.diffTo(`{"messages":["hi","draft"],"counter":3}`)
	bad.GetStateDiff().StateHash[0] ^= 1
	msgs = append(msgs, bad)
	feedLive(t, m, msgs...)

	list, _, records, undecodable := m.threadList()
	require.Len(t, list, 1)
	require.EqualValues(t, len(msgs), records)
	require.Zero(t, undecodable)
	require.Equal(t, "completed", list[0].Status)

	v, ok := m.thread("t1")
	require.True(t, ok)
	require.Len(t, v.History, len(msgs))
	var names []string
	for _, n := range v.Nodes {
		names = append(names, n.Name)
	}
	require.ElementsMatch(t, []string{"plan", "draft"}, names)
	edges := map[string]liveEdge{}
	for _, e := range v.Edges {
		edges[e.From+">"+e.To] = e
	}
	require.Equal(t, 1, edges["plan>draft"].Taken)
	require.True(t, edges["draft>plan"].Conditional)
	require.Equal(t, "needs_work", edges["draft>plan"].Last)
	require.Equal(t, 1, v.Thread.Problems, "the bad hash is reported as verify reports it")
	require.Contains(t, v.History[len(v.History)-1].Problem, "state_hash")

	// Time travel: after the first diff, and at the end of the run.
	s, ok := m.stateAt("t1", 2)
	require.True(t, ok)
	jsonEq(t, `{"messages":["hi"],"counter":1}`, s.State)
	require.Contains(t, string(s.Diff), `"op":"replace"`)
	s, ok = m.stateAt("t1", 9)
	require.True(t, ok)
	jsonEq(t, `{"messages":["hi","draft"],"counter":2}`, s.State)
	require.Nil(t, s.Diff, "GRAPH_END changes nothing")
	_, ok = m.stateAt("nope", 0)
	require.False(t, ok)
}

func TestLiveModelBounds(t *testing.T) {
	m := newLiveModel(liveLimits{threads: 3, history: 6, stateBytes: 400})
	for i := range 5 {
		feedLive(t, m, newStream(t, fmt.Sprintf("t%d", i), 1).run()...)
	}
	list, _, _, _ := m.threadList()
	require.Len(t, list, 3, "the least recently updated threads are forgotten")
	var ids []string
	for _, th := range list {
		ids = append(ids, th.ID)
	}
	require.ElementsMatch(t, []string{"t2", "t3", "t4"}, ids)
	require.Len(t, m.rep.Threads(), 3, "the replayer forgets them too")
	for _, id := range ids {
		v, _ := m.thread(id)
		require.LessOrEqual(t, len(v.History), 6)
		require.Equal(t, 10-len(v.History), v.First, "history indexes stay those of the whole stream")
	}
	require.LessOrEqual(t, m.snapshot, int64(400), "state snapshots stay within their budget")
	// The newest state is always there.
	s, ok := m.stateAt("t4", -1)
	require.True(t, ok)
	require.Equal(t, 9, s.Index)
}

// The live page's API, through the real server on kfake.
func TestServeLiveAPI(t *testing.T) {
	h := startServe(t, 0)
	h.produceRun(t, "api-thread", 1)
	get := func(path string) (int, []byte) {
		resp, err := http.Get(h.http.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, b := get("/live/api/threads")
		if strings.Contains(string(b), `"api-thread"`) && strings.Contains(string(b), `"completed"`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the thread never appeared: %s", b)
		time.Sleep(50 * time.Millisecond)
	}
	code, b := get("/live/api/state?id=api-thread&index=-1")
	require.Equal(t, http.StatusOK, code)
	var s stateAt
	require.NoError(t, json.Unmarshal(b, &s))
	jsonEq(t, finalState, s.State)
	code, _ = get("/live/api/thread?id=missing")
	require.Equal(t, http.StatusNotFound, code)
	code, b = get("/live/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(b), "DashStream")
	code, b = get("/health")
	require.Equal(t, http.StatusOK, code)
	var health struct {
		Status  string         `json:"status"`
		Metrics map[string]any `json:"metrics"`
	}
	require.NoError(t, json.Unmarshal(b, &health))
	require.Equal(t, "healthy", health.Status)
	for _, k := range []string{"kafka_messages_received", "kafka_errors", "infrastructure_errors", "connected_clients",
		"uptime_seconds", "last_kafka_message_ago_seconds", "dropped_messages", "decode_errors"} {
		require.Contains(t, health.Metrics, k, "the UI's HealthResponse reads it")
	}
	code, b = get("/version")
	require.Equal(t, http.StatusOK, code)
	for _, k := range []string{"git_sha", "build_date", "schema_version", "component"} {
		require.Contains(t, string(b), `"`+k+`"`, "the UI's VersionInfo reads it")
	}
	code, b = get("/api/expected-schema/g")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"graph_name":"g","schema_id":null}`, string(b))
	req, _ := http.NewRequest(http.MethodPut, h.http.URL+"/api/expected-schema/g", strings.NewReader(`{"schema_id":"abc"}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, b = get("/api/expected-schema/g")
	require.Contains(t, string(b), `"schema_id":"abc"`)
}

// TestLiveModelOpenRun: a run that started and has had no message for a
// while, without GRAPH_END, shows as open (with its age), not running; a
// recent one is running, an ended one completed.
func TestLiveModelOpenRun(t *testing.T) {
	m := newLiveModel(defaultLiveLimits())
	b := newStream(t, "t1", 1)
	msgs := b.run()
	feedLive(t, m, msgs[:len(msgs)-1]...) // no GRAPH_END
	start := time.UnixMicro(msgs[0].GetEvent().GetHeader().GetTimestampUs())
	last := time.UnixMicro(dashstream.HeaderOf(msgs[len(msgs)-2]).GetTimestampUs())

	m.now = func() time.Time { return last.Add(time.Minute) }
	list, _, _, _ := m.threadList()
	require.Equal(t, "running", list[0].Status)

	m.now = func() time.Time { return start.Add(time.Hour) }
	list, _, _, _ = m.threadList()
	require.Equal(t, "open", list[0].Status)
	require.Empty(t, list[0].Running)
	require.Equal(t, time.Hour.Microseconds(), list[0].OpenForUs)
	v, ok := m.thread("t1")
	require.True(t, ok)
	require.Equal(t, "open", v.Thread.Status)

	feedLive(t, m, msgs[len(msgs)-1])
	list, _, _, _ = m.threadList()
	require.Equal(t, "completed", list[0].Status)
}
