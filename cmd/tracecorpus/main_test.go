package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestGitBlobID(t *testing.T) {
	// git hash-object of "hello\n".
	if got := gitBlobID([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Fatalf("blob id %s", got)
	}
}

func TestRunWritesFixtureAndSidecar(t *testing.T) {
	dir := t.TempDir()
	export := `{"trace":{"id":"0123456789abcdef0123456789abcdef","name":"t"},"observations":[
	 {"id":"0123456789abcdef","traceId":"0123456789abcdef0123456789abcdef","type":"GENERATION","name":"chat x","level":"DEFAULT",
	  "startTime":"2025-01-01T00:00:00.000Z","endTime":"2025-01-01T00:00:01.000Z","input":"[]","output":"[]",
	  "metadata":{"attributes":{"gen_ai.operation.name":"chat"},"scope":{"name":"agent_framework"}}}]}`
	in := filepath.Join(dir, "x-2025-01-01.trace.json")
	if err := os.WriteFile(in, []byte(export), 0o644); err != nil {
		t.Fatal(err)
	}
	last := filepath.Join(dir, "last.txt")
	if err := os.WriteFile(last, []byte("abc worker/src/__tests__/chatml/framework-traces/x-2025-01-01.trace.json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := run([]string{"-commit", "c0ffee", "-last-changed", last, "-out", out, in}); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Source   map[string]string      `json:"source"`
		Restored []struct{ Key string } `json:"restored"`
	}
	b, err := os.ReadFile(filepath.Join(out, "x-2025-01-01.source.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Source["commit"] != "c0ffee" || rep.Source["last_changed"] != "abc" || rep.Source["blob"] != gitBlobID([]byte(export)) {
		t.Errorf("source %v", rep.Source)
	}
	if len(rep.Restored) != 2 || rep.Restored[0].Key != "gen_ai.input.messages" {
		t.Errorf("restored %+v", rep.Restored)
	}
	if _, err := os.Stat(filepath.Join(out, "x-2025-01-01.otlp.json")); err != nil {
		t.Error(err)
	}
	if err := run([]string{"-commit", "c", "-out", out, filepath.Join(dir, "last.txt")}); err == nil {
		t.Error("a file not named *.trace.json was accepted")
	}
}
