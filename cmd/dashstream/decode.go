package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dashstream/dashstreamexporter/dashstream"
)

// maxDecodeInput bounds what decode reads: a record is at most 1 MiB of
// protobuf plus framing; text encodings take at most twice that.
const maxDecodeInput = 4 << 20

func runDecode(args []string, e env) error {
	fs := flag.NewFlagSet("dashstream decode", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	format := fs.String("format", "auto", "input encoding: auto, raw, hex or base64")
	rawBytes := fs.Bool("raw-bytes", false, "leave bytes fields as protojson prints them (base64) instead of JSON, UUIDs and hex")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("at most one FILE, got %q", pos)
	}
	in := e.stdin
	name := "stdin"
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return usageError{err}
		}
		defer f.Close()
		in, name = f, pos[0]
	}
	data, err := io.ReadAll(io.LimitReader(in, maxDecodeInput+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxDecodeInput {
		return fmt.Errorf("%s: more than %d bytes: not one record value", name, maxDecodeInput)
	}
	value, err := recordBytes(data, *format)
	if err != nil {
		return err
	}
	out, err := decodeToJSON(value, !*rawBytes)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(append(out, '\n'))
	return err
}

// recordBytes turns the input into the record value per --format.
func recordBytes(data []byte, format string) ([]byte, error) {
	switch format {
	case "raw":
		return data, nil
	case "hex":
		return decodeHex(data)
	case "base64":
		return decodeBase64(data)
	case "auto":
		if len(data) > 0 && (data[0] == dashstream.FrameNone || data[0] == dashstream.FrameZstd) {
			return data, nil
		}
		if b, err := decodeHex(data); err == nil {
			return b, nil
		}
		if b, err := decodeBase64(data); err == nil {
			return b, nil
		}
		return data, nil
	}
	return nil, usageErrorf("--format %q: want auto, raw, hex or base64", format)
}

// compact drops all whitespace (line breaks from `xxd -p`, kcat, etc.).
func compact(data []byte) string {
	return strings.Join(strings.Fields(string(data)), "")
}

func decodeHex(data []byte) ([]byte, error) {
	s := strings.TrimPrefix(compact(data), "0x")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("not hex: %w", errors.Join(err, errEmpty(len(b))))
	}
	return b, nil
}

func decodeBase64(data []byte) ([]byte, error) {
	s := compact(data)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

func errEmpty(n int) error {
	if n == 0 {
		return errors.New("empty input")
	}
	return nil
}

// decodeToJSON decodes a record value and renders it with protojson (proto
// field names). With pretty, bytes fields are shown as what they hold:
// states and patch values as JSON, ids as UUIDs, hashes as hex.
func decodeToJSON(value []byte, pretty bool) ([]byte, error) {
	dec, err := dashstream.NewDecoder(dashstream.DecoderOptions{})
	if err != nil {
		return nil, err
	}
	msg, err := dec.Decode(value)
	if err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	pj, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("render JSON: %w", err)
	}
	if !pretty {
		var buf bytes.Buffer
		if err := json.Indent(&buf, pj, "", "  "); err != nil {
			return nil, fmt.Errorf("indent: %w", err)
		}
		return buf.Bytes(), nil
	}
	var root map[string]any
	d := json.NewDecoder(bytes.NewReader(pj))
	d.UseNumber()
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("re-read JSON: %w", err)
	}
	prettifyBytes(root)
	return json.MarshalIndent(root, "", "  ")
}

// prettifyBytes rewrites the bytes fields of a protojson message map.
func prettifyBytes(root map[string]any) {
	for kind, v := range root {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		prettifyHeader(m)
		switch kind {
		case "state_diff":
			rewrite(m, "base_checkpoint_id", asID)
			rewrite(m, "state_hash", asHex)
			rewrite(m, "full_state", asJSON)
			for _, op := range objects(m["operations"]) {
				rewrite(op, "value", asJSON)
			}
		case "checkpoint":
			rewrite(m, "checkpoint_id", asID)
			rewrite(m, "checksum", asHex)
			rewrite(m, "state", asJSON)
		case "tool_execution":
			rewrite(m, "arguments", asJSON)
			rewrite(m, "result", asJSON)
		case "execution_trace":
			rewrite(m, "final_state", asJSON)
			for _, n := range objects(m["nodes_executed"]) {
				rewrite(n, "input", asJSON)
				rewrite(n, "output", asJSON)
			}
		case "event_batch":
			for _, ev := range objects(m["events"]) {
				prettifyHeader(ev)
			}
		}
	}
}

func prettifyHeader(m map[string]any) {
	h, ok := m["header"].(map[string]any)
	if !ok {
		return
	}
	rewrite(h, "message_id", asID)
	rewrite(h, "parent_id", asID)
}

func objects(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// rewrite replaces m[key], a base64 string, by conv of its bytes; values
// conv cannot render stay as they were.
func rewrite(m map[string]any, key string, conv func([]byte) (any, bool)) {
	s, ok := m[key].(string)
	if !ok {
		return
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return
	}
	if v, ok := conv(b); ok {
		m[key] = v
	}
}

func asID(b []byte) (any, bool) {
	if u, err := uuid.FromBytes(b); err == nil {
		return u.String(), true
	}
	return hex.EncodeToString(b), true
}

func asHex(b []byte) (any, bool) { return hex.EncodeToString(b), true }

func asJSON(b []byte) (any, bool) {
	if !json.Valid(b) {
		return nil, false
	}
	return json.RawMessage(b), true
}
