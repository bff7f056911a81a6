package tracecorpus

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Source cites where an export was published.
type Source struct {
	Repository  string `json:"repository"`
	Path        string `json:"path"`
	Commit      string `json:"commit"`                 // the snapshot read
	LastChanged string `json:"last_changed,omitempty"` // the commit that last changed the file
	Blob        string `json:"blob"`                   // git blob id of the exported bytes
}

// Report says what a conversion restored and what the export cannot give.
type Report struct {
	Source   Source     `json:"source"`
	TraceID  string     `json:"trace_id"`
	Spans    int        `json:"spans"`
	Scopes   []string   `json:"scopes"`
	Restored []Restored `json:"restored"`
	// Typed lists, per attribute key, the type given back to values
	// Langfuse had stored as strings (int, double, array) or JSON (json).
	Typed map[string]string `json:"typed,omitempty"`
	// Lost lists what the export does not hold at all.
	Lost []string `json:"lost"`
}

// Restored is one key put back, with the spans it was put back on.
type Restored struct {
	Key   string   `json:"key"`
	From  string   `json:"from"` // the export's field
	Note  string   `json:"note,omitempty"`
	Spans []string `json:"spans"` // name#span id
}

// add records that key was restored on span.
func (r *Report) add(span, key, from, note string) {
	for i := range r.Restored {
		x := &r.Restored[i]
		if x.Key == key && x.From == from && x.Note == note {
			x.Spans = append(x.Spans, span)
			return
		}
	}
	r.Restored = append(r.Restored, Restored{Key: key, From: from, Note: note, Spans: []string{span}})
}

// lostAlways is what no Langfuse export keeps.
var lostAlways = []string{
	"span events (exceptions, gen_ai.* message events): Langfuse keeps none",
	"span kind and status code (an ERROR level becomes status ERROR)",
	"timestamps below the millisecond",
}

// sdkScopes are tracers whose spans Langfuse stores without their
// attributes (its own SDKs): what they carried is rebuilt from the
// observation's fields.
func isSDKSpan(scope string, md metadata, attrs map[string]string) bool {
	if strings.HasPrefix(scope, "langfuse-sdk") {
		return true
	}
	if _, ok := attrs["langfuse.observation.type"]; ok {
		return true
	}
	return !md.HasAttrs && scope == ""
}

// Convert turns an export into OTLP traces.
func Convert(e *Export, src Source) (ptrace.Traces, *Report, error) {
	rep := &Report{Source: src, TraceID: e.Trace.ID, Spans: len(e.Observations), Typed: map[string]string{},
		Restored: []Restored{}, Lost: append([]string(nil), lostAlways...)}
	td := ptrace.NewTraces()
	resIdx := map[string]ptrace.ResourceSpans{}
	scopeIdx := map[string]ptrace.ScopeSpans{}
	scopes := map[string]bool{}
	root := rootObservation(e.Observations)
	mds := make([]metadata, len(e.Observations))
	sessionSeen := false
	for i := range e.Observations {
		md, err := parseMetadata(e.Observations[i].Metadata)
		if err != nil {
			return td, nil, fmt.Errorf("observation %s: %w", e.Observations[i].ID, err)
		}
		for _, m := range md.Attributes {
			sessionSeen = sessionSeen || m.Key == "session.id" || m.Key == "gen_ai.conversation.id"
		}
		mds[i] = md
	}

	for i := range e.Observations {
		o := &e.Observations[i]
		md := mds[i]
		// Resource and scope.
		rkey := membersKey(md.Resource)
		rs, ok := resIdx[rkey]
		if !ok {
			rs = td.ResourceSpans().AppendEmpty()
			for _, m := range md.Resource {
				putValue(rs.Resource().Attributes(), m.Key, m.Raw)
			}
			resIdx[rkey] = rs
		}
		skey := rkey + "\x00" + md.ScopeName + "\x00" + md.ScopeVer + "\x00" + membersKey(md.ScopeAttrs)
		ss, ok := scopeIdx[skey]
		if !ok {
			ss = rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(md.ScopeName)
			ss.Scope().SetVersion(md.ScopeVer)
			for _, m := range md.ScopeAttrs {
				putValue(ss.Scope().Attributes(), m.Key, m.Raw)
			}
			scopeIdx[skey] = ss
		}
		scopes[strings.TrimSuffix(md.ScopeName+"@"+md.ScopeVer, "@")] = true

		span := ss.Spans().AppendEmpty()
		if err := setIdentity(span, o); err != nil {
			return td, nil, err
		}
		label := o.Name + "#" + o.ID
		attrs := span.Attributes()
		present := map[string]bool{}
		strs := map[string]string{}
		for _, m := range md.Attributes {
			if t := putValue(attrs, m.Key, m.Raw); t != "" {
				rep.Typed[m.Key] = t
			}
			present[m.Key] = true
			var s string
			if json.Unmarshal(m.Raw, &s) == nil {
				strs[m.Key] = s
			}
		}
		sdk := isSDKSpan(md.ScopeName, md, strs)
		restore := func(key, from, note string, put func()) {
			if present[key] {
				return
			}
			put()
			present[key] = true
			rep.add(label, key, from, note)
		}
		if sdk {
			restoreSDK(o, md, restore, attrs, rep)
		}
		inKey, outKey := ioKeys(md.ScopeName, sdk, o, strs)
		if s, ok := textOf(o.Input); ok && !hasSource(present, inputSources, inputPrefixes) {
			note := ""
			if inKey == "gen_ai.input.messages" && present["gen_ai.system_instructions"] {
				if t, undone := undoSystemPrepend(s); undone {
					s, note = t, "without the system message Langfuse prepends from gen_ai.system_instructions"
				}
			}
			restore(inKey, "input", note, func() { attrs.PutStr(inKey, s) })
		}
		if s, ok := textOf(o.Output); ok && !hasSource(present, outputSources, outputPrefixes) {
			restore(outKey, "output", "", func() { attrs.PutStr(outKey, s) })
		}
		if o == root && sdk && !sessionSeen {
			if e.Trace.SessionID != nil && *e.Trace.SessionID != "" {
				restore("session.id", "trace.sessionId", "", func() { attrs.PutStr("session.id", *e.Trace.SessionID) })
			}
			if e.Trace.UserID != nil && *e.Trace.UserID != "" {
				restore("user.id", "trace.userId", "", func() { attrs.PutStr("user.id", *e.Trace.UserID) })
			}
			if len(e.Trace.Tags) > 0 {
				restore("langfuse.trace.tags", "trace.tags", "", func() {
					s := attrs.PutEmptySlice("langfuse.trace.tags")
					for _, t := range e.Trace.Tags {
						s.AppendEmpty().SetStr(t)
					}
				})
			}
		}
		if o.EndTime == nil {
			rep.Lost = append(rep.Lost, "end time of "+label+" (the export has none; set to its start)")
		}
	}
	for s := range scopes {
		rep.Scopes = append(rep.Scopes, s)
	}
	sort.Strings(rep.Scopes)
	if len(rep.Typed) == 0 {
		rep.Typed = nil
	}
	return td, rep, nil
}

// restoreSDK rebuilds the `langfuse.observation.*` attributes of a span of
// Langfuse's own SDK from the observation's fields.
func restoreSDK(o *Observation, md metadata, restore func(key, from, note string, put func()), attrs pcommon.Map, rep *Report) {
	if o.Type != "" {
		t := strings.ToLower(o.Type)
		restore("langfuse.observation.type", "type", "", func() { attrs.PutStr("langfuse.observation.type", t) })
	}
	if o.Level != "" && o.Level != "DEFAULT" {
		restore("langfuse.observation.level", "level", "", func() { attrs.PutStr("langfuse.observation.level", o.Level) })
	}
	if o.StatusMessage != nil && *o.StatusMessage != "" {
		restore("langfuse.observation.status_message", "statusMessage", "", func() {
			attrs.PutStr("langfuse.observation.status_message", *o.StatusMessage)
		})
	}
	if o.Model != nil && *o.Model != "" {
		restore("langfuse.observation.model.name", "model", "", func() { attrs.PutStr("langfuse.observation.model.name", *o.Model) })
	}
	if s, ok := textOf(o.ModelParameters); ok && s != "{}" {
		restore("langfuse.observation.model.parameters", "modelParameters", "", func() {
			attrs.PutStr("langfuse.observation.model.parameters", s)
		})
	}
	if len(o.UsageDetails) > 0 {
		b, _ := json.Marshal(o.UsageDetails) // map keys sorted
		restore("langfuse.observation.usage_details", "usageDetails", "", func() {
			attrs.PutStr("langfuse.observation.usage_details", string(b))
		})
	}
	if o.CompletionStartTime != nil && *o.CompletionStartTime != "" {
		restore("langfuse.observation.completion_start_time", "completionStartTime", "", func() {
			attrs.PutStr("langfuse.observation.completion_start_time", *o.CompletionStartTime)
		})
	}
	// The SDK writes each metadata key as its own attribute: strings as
	// they are, anything else as JSON.
	for _, m := range md.Other {
		key := "langfuse.observation.metadata." + m.Key
		raw := m.Raw
		restore(key, "metadata."+m.Key, "", func() {
			s, _ := textOf(raw)
			attrs.PutStr(key, s)
		})
	}
	_ = rep
}

// setIdentity sets ids, name, times and status.
func setIdentity(span ptrace.Span, o *Observation) error {
	tid, err := decodeID(o.TraceID, 16)
	if err != nil {
		return fmt.Errorf("observation %s: trace id: %w", o.ID, err)
	}
	var t pcommon.TraceID
	copy(t[:], tid)
	span.SetTraceID(t)
	sid, err := decodeID(o.ID, 8)
	if err != nil {
		return fmt.Errorf("observation %s: span id: %w", o.ID, err)
	}
	var s pcommon.SpanID
	copy(s[:], sid)
	span.SetSpanID(s)
	if o.ParentObservationID != nil && *o.ParentObservationID != "" {
		pid, err := decodeID(*o.ParentObservationID, 8)
		if err != nil {
			return fmt.Errorf("observation %s: parent id: %w", o.ID, err)
		}
		var p pcommon.SpanID
		copy(p[:], pid)
		span.SetParentSpanID(p)
	}
	span.SetName(o.Name)
	start, err := parseTime(o.StartTime)
	if err != nil {
		return fmt.Errorf("observation %s: %w", o.ID, err)
	}
	end := start
	if o.EndTime != nil {
		if end, err = parseTime(*o.EndTime); err != nil {
			return fmt.Errorf("observation %s: %w", o.ID, err)
		}
	}
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	if o.Level == "ERROR" {
		span.Status().SetCode(ptrace.StatusCodeError)
		if o.StatusMessage != nil {
			span.Status().SetMessage(*o.StatusMessage)
		}
	}
	return nil
}

func decodeID(s string, n int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("%q is %d bytes, want %d", s, len(b), n)
	}
	return b, nil
}

// rootObservation is the observation without a parent (the first one).
func rootObservation(obs []Observation) *Observation {
	for i := range obs {
		if obs[i].ParentObservationID == nil || *obs[i].ParentObservationID == "" {
			return &obs[i]
		}
	}
	return nil
}

func membersKey(ms []member) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Key)
		b.WriteByte('=')
		b.WriteString(compact(m.Raw))
		b.WriteByte(';')
	}
	return b.String()
}

// Marshal is the OTLP/JSON of td, indented for review.
func Marshal(td ptrace.Traces) ([]byte, error) {
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
