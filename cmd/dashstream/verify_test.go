package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

func TestLoadExpectations(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]string
		wantErr string
	}{
		{name: "map", content: `{"a":{"n":1},"b":{"big":9007199254740993}}`,
			want: map[string]string{"a": `{"n":1}`, "b": `{"big":9007199254740993}`}},
		{name: "examples layout", content: `{"graph_name":"g","threads":[{"thread_id":"w-1","runs":[],"final_state":{"counter":7}}]}`,
			want: map[string]string{"w-1": `{"counter":7}`}},
		{name: "thread without id", content: `{"threads":[{"final_state":{}}]}`, wantErr: "threads[0] needs"},
		{name: "not an object", content: `[1]`, wantErr: "want a JSON object"},
		{name: "not JSON", content: `{`, wantErr: "--expect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "e.json")
			require.NoError(t, os.WriteFile(p, []byte(tt.content), 0o600))
			got, err := loadExpectations(p)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for id, js := range tt.want {
				want, err := dashstream.ParseJSON([]byte(js))
				require.NoError(t, err)
				require.True(t, dashstream.Equal(want, got[id]), id)
			}
		})
	}
}
