package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// tenantRun is a valid run of thread whose headers name tenant.
func tenantRun(t *testing.T, thread, tenant string) []*dashstreampb.DashStreamMessage {
	msgs := newStream(t, thread, 1).run()
	for _, m := range msgs {
		dashstream.HeaderOf(m).TenantId = tenant
	}
	return msgs
}

// TestServeTenant: with --tenant, the live view and the relay show that
// tenant's threads only, and the relay's cursors still move past the
// records it passes over.
func TestServeTenant(t *testing.T) {
	tf, err := newTenantFilter("team-a")
	require.NoError(t, err)
	h := startServe(t, 0, func(s *server) { s.setTenant(tf); s.flags.tenant = "team-a" })
	produce(t, h.prod, defaultTopic, tenantRun(t, "b-1", "team-b")...)
	produce(t, h.prod, defaultTopic, tenantRun(t, "a-1", "team-a")...)
	produce(t, h.prod, defaultTopic, tenantRun(t, "none-1", "")...)
	produce(t, h.prod, defaultTopic, tenantRun(t, "a-2", "team-a")...)

	// The live view.
	deadline := time.Now().Add(15 * time.Second)
	var body string
	for {
		var resp *http.Response
		resp, body = do(t, noRedirect, "GET", h.http.URL+"/live/api/threads", nil, "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if strings.Contains(body, `"a-2"`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "tenant threads never appeared: %s", body)
		time.Sleep(50 * time.Millisecond) // polling the model with a deadline
	}
	require.Contains(t, body, `"a-1"`)
	require.NotContains(t, body, `"b-1"`)
	require.NotContains(t, body, `"none-1"`)
	require.Contains(t, body, `"tenant":"team-a"`)
	require.Contains(t, body, `"records":20`)
	resp, _ := do(t, noRedirect, "GET", h.http.URL+"/live/api/thread?id=b-1", nil, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The relay: a-1 and a-2 only; the replay's cursor covers every record
	// read, so a resume from it starts after the other tenants' too.
	c := h.dial(t)
	c.send(map[string]any{"type": "resume", "from": "earliest"})
	recs, done := c.until("replay_complete")
	require.Len(t, recs, 20)
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	require.NoError(t, err)
	for _, r := range recs {
		m, err := dec.Decode(r.value)
		require.NoError(t, err)
		require.Equal(t, "team-a", dashstream.HeaderOf(m).GetTenantId())
	}
	require.EqualValues(t, 20, done["totalReplayed"])
	cursor := toStringMap(done["lastOffsetsByPartition"])
	total := int64(0)
	for p, o := range cursor {
		newest, err := h.srv.relay.client.GetOffset(defaultTopic, int32(mustAtoi(t, p)), -1)
		require.NoError(t, err)
		off, err := strconv.ParseInt(o, 10, 64)
		require.NoError(t, err)
		require.Equal(t, newest-1, off, "partition %s: the cursor stops short of the records passed over", p)
		total += newest
	}
	require.EqualValues(t, 40, total)

	// Live: another tenant's run is passed over, ours arrives.
	produce(t, h.prod, defaultTopic, tenantRun(t, "b-2", "team-b")...)
	produce(t, h.prod, defaultTopic, tenantRun(t, "a-3", "team-a")...)
	live := c.records(10)
	for _, r := range live {
		m, err := dec.Decode(r.value)
		require.NoError(t, err)
		require.Equal(t, "a-3", dashstream.HeaderOf(m).GetThreadId())
	}

	// A resume from the replay's cursor sends what came after it, of
	// team-a only.
	c2 := h.dial(t)
	c2.send(map[string]any{"type": "resume", "from": "cursor", "lastOffsetsByPartition": cursor})
	rest, _ := c2.until("replay_complete")
	require.Len(t, rest, 10)
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
