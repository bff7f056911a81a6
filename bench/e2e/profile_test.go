package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseShares(t *testing.T) {
	listing := `File: otelcol-bench-ours
Showing nodes accounting for 2.66s, 28.30% of 9.40s total
      flat  flat%   sum%        cum   cum%
         0     0%     0%      6.86s 72.98%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*Translator).Translate
     0.02s  0.21%  0.85%      5.42s 57.66%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*emitter).snapshot
     0.03s  0.32%  1.17%      1.85s 19.68%  runtime.mallocgc
         0     0%  2.23%      0.98s 10.43%  github.com/dashstream/dashstreamexporter/dashstream/translate.parseState
     0.01s  0.11%  0.21%      0.60s  6.43%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*redactor).redactJSON
     0.01s  0.11%  0.21%      0.10s  1.00%  github.com/dashstream/dashstreamexporter/dashstream/translate.(*redactor).redactString
         0     0% 52.59%      0.58s 11.13%  github.com/twmb/franz-go/pkg/kgo.(*broker).handleReqs
garbage line
`
	got := parseShares(listing)
	assert.Equal(t, map[string]float64{
		"translation, all of it (Translator.Translate)":           72.98,
		"state snapshots (build, diff, hash, encode a StateDiff)": 57.66,
		"memory allocation (runtime.mallocgc)":                    19.68,
		"Kafka client: franz-go (reference)":                      11.13,
	}, got)
}

// TestProfileSpotsExist: every profile spot of this repository names a
// function that exists, so a rename does not silently empty a row of the
// documented breakdown.
func TestProfileSpotsExist(t *testing.T) {
	for _, s := range profileSpots {
		if !s.ours {
			continue
		}
		dot := strings.Index(s.fn, ".")
		dir, rest := s.fn[:dot], s.fn[dot+1:]
		recv, name := "", rest
		if strings.HasPrefix(rest, "(*") {
			end := strings.Index(rest, ")")
			recv, name = rest[2:end], rest[end+2:]
		}
		if !declares(t, filepath.Join("..", "..", dir), recv, name) {
			t.Errorf("profile spot %q: no func %s in ../../%s", s.label, rest, dir)
		}
	}
}

// declares reports whether the non-test Go files of dir declare function
// name, as a method of *recv when recv is set.
func declares(t *testing.T, dir, recv, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != name {
				continue
			}
			if recv == "" && fd.Recv == nil {
				return true
			}
			if recv != "" && fd.Recv != nil && len(fd.Recv.List) == 1 {
				if star, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
					if id, ok := star.X.(*ast.Ident); ok && id.Name == recv {
						return true
					}
				}
			}
		}
	}
	return false
}
