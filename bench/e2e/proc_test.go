package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    float64
		wantErr bool
	}{
		{
			name: "plain command",
			stat: "1234 (otelcol) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0",
			want: 3.0,
		},
		{
			name: "command with spaces and parentheses",
			stat: "1234 (a (b) c) R 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 8 0 100 0 0",
			want: 0.1,
		},
		{name: "truncated", stat: "1234 (x) S 1 2 3", wantErr: true},
		{name: "no command", stat: "garbage", wantErr: true},
		{name: "bad number", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat), 100)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t  4321 kB\nVmRSS:\t 1000 kB\n"
	v, err := parseStatusKiB([]byte(status), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, int64(4321), v)
	_, err = parseStatusKiB([]byte(status), "VmSwap")
	assert.Error(t, err)
	_, err = parseStatusKiB([]byte("VmHWM:\n"), "VmHWM")
	assert.Error(t, err)
}

func TestOwnProcess(t *testing.T) {
	// Burn a little CPU so the counters are not zero.
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	require.Positive(t, x)
	cpu, err := procCPU(os.Getpid(), defaultClockTicks)
	require.NoError(t, err)
	assert.Positive(t, cpu)
	rss, err := procPeakRSS(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.Positive(t, loadAverage())
	m := readMachine()
	assert.Positive(t, m.NProc)
	assert.NotEqual(t, "?", m.MemGiB)
}
