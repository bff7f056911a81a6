// Package tracecorpus turns trace exports of the Langfuse UI/API (one trace
// with its observations, as Langfuse publishes them for its own OTel
// ingestion tests) back into OTLP spans, so that real traces of runtimes we
// cannot run here become test fixtures.
//
// Langfuse keeps every observation's original span attributes, scope and
// resource in its metadata, but at ingestion it lifts the span's input and
// output out of the attributes (into the observation's input/output fields),
// stringifies non-string attribute values, and, for spans of its own SDK,
// keeps only the metadata it derived. The converter restores each lifted
// value under the key the instrumentation itself used, gives attribute
// values back their types, and reports every restoration.
package tracecorpus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Export is one Langfuse trace export: {"trace": …, "observations": […]}.
type Export struct {
	Trace        Trace         `json:"trace"`
	Observations []Observation `json:"observations"`
}

// Trace holds the trace-level fields the converter uses.
type Trace struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	SessionID *string  `json:"sessionId"`
	UserID    *string  `json:"userId"`
	Tags      []string `json:"tags"`
	Timestamp string   `json:"timestamp"`
}

// Observation is one exported observation (one span).
type Observation struct {
	ID                  string             `json:"id"`
	TraceID             string             `json:"traceId"`
	ParentObservationID *string            `json:"parentObservationId"`
	Type                string             `json:"type"`
	Name                string             `json:"name"`
	Level               string             `json:"level"`
	StatusMessage       *string            `json:"statusMessage"`
	StartTime           string             `json:"startTime"`
	EndTime             *string            `json:"endTime"`
	CompletionStartTime *string            `json:"completionStartTime"`
	Model               *string            `json:"model"`
	ModelParameters     json.RawMessage    `json:"modelParameters"`
	UsageDetails        map[string]float64 `json:"usageDetails"`
	Input               json.RawMessage    `json:"input"`
	Output              json.RawMessage    `json:"output"`
	Metadata            json.RawMessage    `json:"metadata"`
}

// metadata is an observation's metadata, split into what Langfuse stored
// from the span (attributes, resource, scope) and the rest (for Langfuse
// SDK spans: the `langfuse.observation.metadata.*` keys), in file order.
type metadata struct {
	Attributes []member
	Resource   []member
	ScopeName  string
	ScopeVer   string
	ScopeAttrs []member
	Other      []member
	HasAttrs   bool
}

// member is one key of a JSON object with its raw value, in file order.
type member struct {
	Key string
	Raw json.RawMessage
}

// ParseExport decodes an export.
func ParseExport(b []byte) (*Export, error) {
	var e Export
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode export: %w", err)
	}
	if len(e.Observations) == 0 {
		return nil, fmt.Errorf("export of trace %q has no observations", e.Trace.ID)
	}
	return &e, nil
}

// parseMetadata reads an observation's metadata, which the export holds
// either as an object or as a string of JSON.
func parseMetadata(raw json.RawMessage) (metadata, error) {
	var md metadata
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return md, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return md, fmt.Errorf("metadata string: %w", err)
		}
		raw = json.RawMessage(s)
	}
	top, err := objectMembers(raw)
	if err != nil {
		return md, fmt.Errorf("metadata: %w", err)
	}
	for _, m := range top {
		switch m.Key {
		case "attributes":
			md.HasAttrs = true
			if md.Attributes, err = objectMembers(m.Raw); err != nil {
				return md, fmt.Errorf("metadata.attributes: %w", err)
			}
		case "resourceAttributes":
			if md.Resource, err = objectMembers(m.Raw); err != nil {
				return md, fmt.Errorf("metadata.resourceAttributes: %w", err)
			}
		case "scope":
			var sc struct {
				Name       string          `json:"name"`
				Version    *string         `json:"version"`
				Attributes json.RawMessage `json:"attributes"`
			}
			if err := json.Unmarshal(m.Raw, &sc); err != nil {
				return md, fmt.Errorf("metadata.scope: %w", err)
			}
			md.ScopeName = sc.Name
			if sc.Version != nil {
				md.ScopeVer = *sc.Version
			}
			if md.ScopeAttrs, err = objectMembers(sc.Attributes); err != nil {
				return md, fmt.Errorf("metadata.scope.attributes: %w", err)
			}
		default:
			md.Other = append(md.Other, m)
		}
	}
	return md, nil
}

// objectMembers lists a JSON object's members in order (null or absent: none).
func objectMembers(raw json.RawMessage) ([]member, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want an object, got %v", tok)
	}
	var out []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{Key: kt.(string), Raw: v})
	}
	return out, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}
