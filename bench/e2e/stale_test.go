package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSourcesNewerThan: a collector binary is rebuilt when a non-test Go
// file of the exporter, go.mod/go.sum or the manifest changed after it;
// tests and unrelated files do not count.
func TestSourcesNewerThan(t *testing.T) {
	dir := t.TempDir()
	files := []string{"manifest.yaml", "go.mod", "go.sum", "exporter.go", "internal/m/m.go",
		"dashstream/codec.go", "dashstream/codec_test.go", "cmd/tool/main.go", "README.md"}
	old := time.Now().Add(-time.Hour)
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	built := old.Add(time.Minute)
	for _, tc := range []struct {
		touch string
		want  bool
	}{
		{"", false},
		{"dashstream/codec_test.go", false},
		{"cmd/tool/main.go", false},
		{"README.md", false},
		{"dashstream/codec.go", true},
		{"internal/m/m.go", true},
		{"exporter.go", true},
		{"go.sum", true},
		{"manifest.yaml", true},
	} {
		t.Run(tc.touch, func(t *testing.T) {
			if tc.touch != "" {
				now := time.Now()
				if err := os.Chtimes(tc.touch, now, now); err != nil {
					t.Fatal(err)
				}
				defer os.Chtimes(tc.touch, old, old)
			}
			got, err := sourcesNewerThan(built, "manifest.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("touching %q: newer = %v, want %v", tc.touch, got, tc.want)
			}
		})
	}
}
