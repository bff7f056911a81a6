package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplaceSection(t *testing.T) {
	block := beginMarker + "\nNEW\n" + endMarker + "\n"
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "empty document gets only the section",
			doc:  "",
			want: "## End to end\n\n" + block,
		},
		{
			name: "heading without markers, last section",
			doc:  "# B\n\n## Wire core\n\ntext\n\n## End to end\n",
			want: "# B\n\n## Wire core\n\ntext\n\n## End to end\n\n" + block,
		},
		{
			name: "heading without markers, followed by another section",
			doc:  "# B\n\n## End to end\n\nold text\n\n## Later\n\nkeep\n",
			want: "# B\n\n## End to end\n\n" + block + "\n## Later\n\nkeep\n",
		},
		{
			name: "markers are replaced, surroundings kept",
			doc:  "# B\n\n## End to end\n\n" + beginMarker + "\nOLD\nOLD\n" + endMarker + "\n\n## Later\n",
			want: "# B\n\n## End to end\n\n" + block + "\n## Later\n",
		},
		{
			name: "no heading: appended",
			doc:  "# B\n\n## Wire core\ntext",
			want: "# B\n\n## Wire core\ntext\n\n## End to end\n\n" + block,
		},
		{
			name: "heading text inside a line is not the heading",
			doc:  "see ## End to end below\n",
			want: "see ## End to end below\n\n## End to end\n\n" + block,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(replaceSection([]byte(tt.doc), "NEW\n"))
			assert.Equal(t, tt.want, got)
			again := string(replaceSection([]byte(got), "NEW\n"))
			assert.Equal(t, got, again, "regenerating is idempotent")
		})
	}
}

func TestWriteSectionCreatesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	require.NoError(t, writeSection(path, "body"))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "## End to end\n\n"+beginMarker))
	assert.Contains(t, string(b), "body\n"+endMarker)
}

func TestNumRatioPercent(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{num(0, 0), "0"},
		{num(999, 0), "999"},
		{num(1234567.891, 2), "1,234,567.89"},
		{num(-1234.5, 1), "-1,234.5"},
		{num(-0.01, 1), "0.0"},
		{ratio(3, 2), "1.50×"},
		{ratio(25, 2), "12.5×"},
		{ratio(1, 200), "0.005×"},
		{ratio(1, 0), "—"},
		{ratio(0, 1), "—"},
		{percent(0.9123), "91.2%"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.got)
	}
}

func TestCommandLine(t *testing.T) {
	assert.Equal(t, "make bench-e2e   # = go run ./bench/e2e", commandLine(nil))
	assert.Equal(t, "go run ./bench/e2e -duration 30s -ours-bin 'a b'", commandLine([]string{"-duration", "30s", "-ours-bin", "a b"}))
}
