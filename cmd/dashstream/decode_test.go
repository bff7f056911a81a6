package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeFormats(t *testing.T) {
	b := newStream(t, "thread-1", 7)
	b.graphStart(`{"messages":["hi"],"counter":9007199254740993}`)
	// A small checkpoint is framed plain; a big diff is zstd-framed.
	small := b.checkpoint()
	big := b.diffTo(`{"messages":["hi","` + strings.Repeat("y", 3000) + `"],"counter":1}`)
	vals := encode(t, big, small)
	require.EqualValues(t, 0x01, vals[0][0], "zstd frame")
	require.EqualValues(t, 0x00, vals[1][0], "plain frame")

	dir := t.TempDir()
	rawFile := filepath.Join(dir, "rec.bin")
	require.NoError(t, os.WriteFile(rawFile, vals[0], 0o600))

	tests := []struct {
		name  string
		args  []string
		stdin []byte
		check func(t *testing.T, m map[string]any)
	}{
		{name: "raw file, zstd frame", args: []string{rawFile}, check: func(t *testing.T, m map[string]any) {
			sd := m["state_diff"].(map[string]any)
			h := sd["header"].(map[string]any)
			require.Equal(t, "thread-1", h["thread_id"])
			require.Equal(t, "COMPRESSION_ZSTD", h["compression"])
			require.Len(t, h["message_id"], 36, "message id as UUID")
			require.Len(t, sd["state_hash"], 64, "state hash as hex")
			ops := sd["operations"].([]any)
			require.NotEmpty(t, ops)
		}},
		{name: "hex on stdin with line breaks", args: []string{"--format", "hex"},
			stdin: []byte(wrap(hex.EncodeToString(vals[1]), 60)), check: func(t *testing.T, m map[string]any) {
				cp := m["checkpoint"].(map[string]any)
				require.Equal(t, "application/json", cp["state_type"])
				state := cp["state"].(map[string]any)
				require.Equal(t, json.Number("9007199254740993"), state["counter"], "large integers stay exact")
				require.Len(t, cp["checkpoint_id"], 36)
				require.Len(t, cp["checksum"], 64)
			}},
		{name: "auto detects base64", args: []string{"-"}, stdin: []byte(base64.StdEncoding.EncodeToString(vals[1]) + "\n"),
			check: func(t *testing.T, m map[string]any) { require.Contains(t, m, "checkpoint") }},
		{name: "auto detects hex", stdin: []byte(hex.EncodeToString(vals[0])),
			check: func(t *testing.T, m map[string]any) { require.Contains(t, m, "state_diff") }},
		{name: "raw bytes left as protojson", args: []string{"--raw-bytes", rawFile}, check: func(t *testing.T, m map[string]any) {
			sd := m["state_diff"].(map[string]any)
			_, err := base64.StdEncoding.DecodeString(sd["state_hash"].(string))
			require.NoError(t, err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli(context.Background(), append([]string{"decode"}, tt.args...),
				env{stdin: bytes.NewReader(tt.stdin), stdout: &out, stderr: &errOut})
			require.Equal(t, exitOK, code, errOut.String())
			var m map[string]any
			d := json.NewDecoder(&out)
			d.UseNumber()
			require.NoError(t, d.Decode(&m))
			tt.check(t, m)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantErr  string
	}{
		{"corrupt frame", []string{"--format", "hex"}, "0199aa", exitInconsistent, "decode record"},
		{"bad hex", []string{"--format", "hex"}, "zz", exitInconsistent, "not hex"},
		{"bad format flag", []string{"--format", "yaml"}, "00", exitUsage, "--format"},
		{"two files", []string{"a", "b"}, "", exitUsage, "at most one FILE"},
		{"missing file", []string{"/nonexistent/x"}, "", exitUsage, "no such file"},
		{"empty input", nil, "", exitInconsistent, "empty record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := cli(context.Background(), append([]string{"decode"}, tt.args...),
				env{stdin: strings.NewReader(tt.stdin), stdout: &out, stderr: &errOut})
			require.Equal(t, tt.wantCode, code)
			require.Contains(t, errOut.String(), tt.wantErr)
			require.Empty(t, out.String())
		})
	}
}

func TestCLIUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, exitUsage, cli(context.Background(), nil, env{stdout: &out, stderr: &errOut}))
	require.Contains(t, errOut.String(), "Usage:")
	errOut.Reset()
	require.Equal(t, exitUsage, cli(context.Background(), []string{"frobnicate"}, env{stdout: &out, stderr: &errOut}))
	require.Contains(t, errOut.String(), `unknown command "frobnicate"`)
	require.Equal(t, exitOK, cli(context.Background(), []string{"help"}, env{stdout: &out, stderr: &errOut}))
	require.Equal(t, exitUsage, cli(context.Background(), []string{"tail", "--color", "pink"}, env{stdout: &out, stderr: &errOut}))
	require.Equal(t, exitUsage, cli(context.Background(), []string{"verify", "--sasl-mechanism", "GSSAPI",
		"--sasl-username", "u", "--sasl-password", "p"}, env{stdout: &out, stderr: &errOut}))
	require.Contains(t, errOut.String(), "--sasl-mechanism")
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}
