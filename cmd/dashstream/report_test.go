package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
	"github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// feed gives the verifier messages of one partition, keyed by thread.
func feed(t *testing.T, v *verifier, partition int32, msgs ...*dashstreampb.DashStreamMessage) {
	t.Helper()
	for i, val := range encode(t, msgs...) {
		key := []byte(dashstream.HeaderOf(msgs[i]).GetThreadId())
		v.add(record{Partition: partition, Offset: int64(i), Key: key, Value: val})
	}
}

func TestVerifyReport(t *testing.T) {
	const final = `{"messages":["hi","draft"],"counter":2}`
	tests := []struct {
		name      string
		build     func(t *testing.T, v *verifier)
		expect    map[string]string
		threads   int
		strict    bool
		age       time.Duration // report time after the streams' start (0: now)
		wantOK    bool
		wantLines []string
	}{
		{
			name: "valid stream of two threads",
			build: func(t *testing.T, v *verifier) {
				feed(t, v, 0, newStream(t, "a", 10).run()...)
				feed(t, v, 1, newStream(t, "b", 50).run()...)
			},
			expect:  map[string]string{"a": final, "b": final},
			threads: 2,
			wantOK:  true,
			wantLines: []string{
				"topic dashstream-events: 3 partition(s), 20 record(s) read",
				"a                               0     10      7    1      2    0     1    0      39 B  ok, expected state",
				"b                               1     10      7    1      2    0     1    0      39 B  ok, expected state",
				"  a: match",
				"OK: 2 thread(s), 20 message(s), no inconsistencies",
			},
		},
		{
			name: "wrong state hash",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				msgs[2].GetStateDiff().StateHash[0] ^= 0xff
				feed(t, v, 0, msgs...)
			},
			wantLines: []string{
				"a                               0     10      7    1      2    0     1    0      39 B  1 problem(s)",
				"1 problem(s):",
				"  thread a seq 3: state_hash: state_hash ",
				"INCONSISTENT: 1 problem(s)",
			},
		},
		{
			name: "bad checkpoint checksum and wrong key",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				msgs[7].GetCheckpoint().Checksum[0] ^= 0xff
				feed(t, v, 0, msgs...)
				vals := encode(t, newStream(t, "a", 100).graphStart(`{}`))
				v.add(record{Partition: 0, Offset: 99, Key: []byte("not-a"), Value: vals[0]})
			},
			wantLines: []string{
				"2 problem(s):",
				"  thread a seq 8: checkpoint: checksum ",
				"  partition 0 offset 99 (thread a seq 100): key: record key \"not-a\" is not the thread id",
				"INCONSISTENT: 2 problem(s)",
			},
		},
		{
			name: "undecodable record and thread split over partitions",
			build: func(t *testing.T, v *verifier) {
				b := newStream(t, "a", 1)
				feed(t, v, 0, b.graphStart(`{}`))
				v.add(record{Partition: 2, Offset: 7, Key: []byte("a"), Value: []byte{0x07, 0x01}})
				vals := encode(t, b.event(dashstreampb.EventType_EVENT_TYPE_GRAPH_END, "", nil))
				v.add(record{Partition: 1, Offset: 3, Key: []byte("a"), Value: vals[0]})
			},
			wantLines: []string{
				"  partition 2 offset 7 (thread a seq 0): decode: 2-byte record: ",
				"  partition 1 offset 3 (thread a seq 2): partition: thread also in partition 0",
				"INCONSISTENT: 2 problem(s)",
			},
		},
		{
			name: "gap is a note, not a problem",
			build: func(t *testing.T, v *verifier) {
				b := newStream(t, "a", 1)
				msgs := b.run()
				feed(t, v, 0, append(msgs[:3:3], msgs[5:]...)...)
			},
			wantOK: true,
			wantLines: []string{
				"1 note(s) (gaps and duplicates are allowed after a loss or a redelivery):",
				"  thread a seq 6: gap: expected 4, 2 missing",
				"OK: 1 thread(s), 8 message(s), no inconsistencies",
			},
		},
		{
			name: "gap with strict",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				feed(t, v, 0, append(msgs[:3:3], msgs[5:]...)...)
			},
			strict:    true,
			wantLines: []string{"INCONSISTENT: 1 note(s) with --strict"},
		},
		{
			name: "final state differs and an expected thread is missing",
			build: func(t *testing.T, v *verifier) {
				feed(t, v, 0, newStream(t, "a", 1).run()...)
			},
			expect: map[string]string{"a": `{"messages":["hi","draft","published"],"counter":2}`, "ghost": `{}`},
			wantLines: []string{
				"  a: differs from expected: +1 op: remove /messages/2",
				"  ghost: no messages of this thread",
				"INCONSISTENT: 2 expected state(s) not reached",
			},
		},
		{
			name: "wrong thread count",
			build: func(t *testing.T, v *verifier) {
				feed(t, v, 0, newStream(t, "a", 1).run()...)
			},
			threads:   2,
			wantLines: []string{"expected 2 thread(s), found 1", "INCONSISTENT: wrong thread count"},
		},
		{
			name: "a run that never ended is listed as open with its age",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				feed(t, v, 0, msgs[:len(msgs)-1]...) // no GRAPH_END
				feed(t, v, 1, newStream(t, "b", 1).run()...)
			},
			age:    3 * time.Hour,
			wantOK: true,
			wantLines: []string{
				"1 run(s) started and never ended (open):",
				"  thread a run run-1 (g): started 2026-11-27T12:00:00Z, 3h0m0s ago",
				"OK: 2 thread(s)",
			},
		},
		{
			name: "with --strict, a run open longer than --max-open-age fails",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				feed(t, v, 0, msgs[:len(msgs)-1]...)
			},
			strict: true,
			age:    3 * time.Hour,
			wantLines: []string{
				"thread a run run-1 (g): started 2026-11-27T12:00:00Z, 3h0m0s ago, older than --max-open-age 2h0m0s",
				"INCONSISTENT: 1 run(s) open longer than 2h0m0s with --strict",
			},
		},
		{
			name: "with --strict, a run open for less than --max-open-age passes",
			build: func(t *testing.T, v *verifier) {
				msgs := newStream(t, "a", 1).run()
				feed(t, v, 0, msgs[:len(msgs)-1]...)
			},
			strict:    true,
			age:       10 * time.Minute,
			wantOK:    true,
			wantLines: []string{"thread a run run-1 (g): started 2026-11-27T12:00:00Z, 10m0s ago", "OK: 1 thread(s)"},
		},
		{
			name: "an end names the run it ends",
			build: func(t *testing.T, v *verifier) {
				b := newStream(t, "a", 1)
				start1 := b.graphStart(`{}`)
				start2 := b.event(dashstreampb.EventType_EVENT_TYPE_GRAPH_START, "", map[string]*dashstreampb.AttributeValue{
					"graph_name": str("g2"), "run_id": str("run-2")})
				end1 := b.event(dashstreampb.EventType_EVENT_TYPE_GRAPH_END, "", map[string]*dashstreampb.AttributeValue{"run_id": str("run-1")})
				feed(t, v, 0, start1, start2, end1)
			},
			age:       time.Minute,
			wantOK:    true,
			wantLines: []string{"1 run(s) started and never ended (open):", "  thread a run run-2 (g2): started"},
		},
		{
			name:      "nothing read",
			build:     func(*testing.T, *verifier) {},
			wantOK:    true,
			wantLines: []string{"no messages of any selected thread", "OK: 0 thread(s), 0 message(s), no inconsistencies"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newVerifier(nil)
			require.NoError(t, err)
			tt.build(t, v)
			var expect map[string]any
			if tt.expect != nil {
				expect = parseExpect(t, tt.expect)
			}
			r := buildReport(v, expect)
			r.Topic, r.Partitions, r.WantThreads, r.Strict = "dashstream-events", 3, tt.threads, tt.strict
			if tt.age != 0 {
				r.Now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).Add(tt.age)
			}
			if tt.expect != nil {
				r.ExpectFile = "expect.json"
			}
			var out bytes.Buffer
			r.write(&out, style{})
			require.Equal(t, tt.wantOK, r.ok(), out.String())
			for _, l := range tt.wantLines {
				require.Contains(t, out.String(), l)
			}
		})
	}
}

func TestVerifierThreadFilter(t *testing.T) {
	v, err := newVerifier(threadFilter{"keep-*"})
	require.NoError(t, err)
	feed(t, v, 0, newStream(t, "keep-1", 1).run()...)
	feed(t, v, 1, newStream(t, "drop", 1).run()...)
	v.add(record{Partition: 1, Key: []byte("drop"), Value: []byte{0xff}})
	r := buildReport(v, nil)
	require.Len(t, r.Threads, 1)
	require.Equal(t, "keep-1", r.Threads[0].ID)
	require.EqualValues(t, 11, r.Skipped)
	require.True(t, r.ok())
}

func parseExpect(t *testing.T, m map[string]string) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("{")
	first := true
	for k, v := range m {
		if !first {
			buf.WriteString(",")
		}
		first = false
		buf.WriteString(`"` + k + `":` + v)
	}
	buf.WriteString("}")
	path := t.TempDir() + "/expect.json"
	require.NoError(t, writeFile(path, buf.Bytes()))
	out, err := loadExpectations(path)
	require.NoError(t, err)
	return out
}
