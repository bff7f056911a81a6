// Command tracecorpus converts Langfuse trace exports (the
// framework-traces of langfuse/langfuse) into OTLP/JSON fixtures, each
// with a sidecar that cites its source and lists what was restored.
//
//	tracecorpus -commit <sha> [-last-changed commits.txt] -out DIR EXPORT.trace.json...
//
// For every EXPORT named <name>.trace.json it writes DIR/<name>.otlp.json
// and DIR/<name>.source.json. -last-changed reads lines "<commit> <path>"
// (git log -1 --format=%H per file) to cite the commit that last changed
// each export.
package main

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // git's blob id, not a security use
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/dashstream/dashstreamexporter/internal/tracecorpus"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tracecorpus:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("tracecorpus", flag.ContinueOnError)
	repo := fs.String("repo", "langfuse/langfuse", "repository the exports were published in")
	dir := fs.String("path", "worker/src/__tests__/chatml/framework-traces", "their folder in the repository")
	commit := fs.String("commit", "", "commit of the repository the exports were read at (required)")
	lastChanged := fs.String("last-changed", "", `file of "<commit> <path>" lines: the commit that last changed each export`)
	out := fs.String("out", "", "output directory (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *commit == "" || *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("usage: tracecorpus -commit SHA -out DIR [-last-changed FILE] EXPORT.trace.json")
	}
	last, err := readLastChanged(*lastChanged)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, in := range fs.Args() {
		base := filepath.Base(in)
		name, ok := strings.CutSuffix(base, ".trace.json")
		if !ok {
			return fmt.Errorf("%s: want a <name>.trace.json export", in)
		}
		b, err := os.ReadFile(in)
		if err != nil {
			return err
		}
		repoPath := path.Join(*dir, base)
		src := tracecorpus.Source{Repository: *repo, Path: repoPath, Commit: *commit,
			LastChanged: last[repoPath], Blob: gitBlobID(b)}
		if err := convertOne(b, src, filepath.Join(*out, name)); err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	return nil
}

func convertOne(b []byte, src tracecorpus.Source, prefix string) error {
	e, err := tracecorpus.ParseExport(b)
	if err != nil {
		return err
	}
	td, rep, err := tracecorpus.Convert(e, src)
	if err != nil {
		return err
	}
	otlp, err := tracecorpus.Marshal(td)
	if err != nil {
		return err
	}
	sidecar, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(prefix+".otlp.json", otlp, 0o644); err != nil {
		return err
	}
	return os.WriteFile(prefix+".source.json", append(sidecar, '\n'), 0o644)
}

// gitBlobID is the id git gives the bytes as a blob, so a citation can be
// checked with `git cat-file -p <blob>` in the source repository.
func gitBlobID(b []byte) string {
	h := sha1.New() //nolint:gosec
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func readLastChanged(file string) (map[string]string, error) {
	m := map[string]string{}
	if file == "" {
		return m, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c, p, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok {
			m[p] = c
		}
	}
	return m, sc.Err()
}
