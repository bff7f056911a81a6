package translate

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Helpers shared by every classifier. They read attributes of any type and
// size without panicking: a wrong type reads as absent, JSON is validated
// before use, and payloads that have to be decoded (not merely validated)
// are decoded only up to maxDecodeBytes.

// maxDecodeBytes bounds the JSON a classifier decodes into Go values
// (metadata, traceloop wrappers, LLM outputs). Larger payloads are skipped
// with a badReason; state snapshots are only validated, never decoded here,
// so they are not subject to this limit (the engine applies state.max_bytes).
const maxDecodeBytes = 8 << 20

// Reasons recorded in spanInfo.badReason.
const (
	badStateNotJSON       = "state_not_json"
	badStateNotUTF8       = "state_not_utf8"
	badStateNotObject     = "state_not_json_object"
	badMetadataNotJSON    = "metadata_not_json"
	badPayloadTooLarge    = "payload_too_large"
	badEntityNotJSON      = "entity_payload_not_json"
	badWorkflowSchemaJSON = "workflow_schema_malformed"
)

// Ignore reasons (spanInfo.ignoreReason) shared by the LangGraph conventions.
const (
	ignorePseudoNode    = "langgraph_pseudo_node"
	ignoreInternalChain = "langgraph_internal_chain"
	ignoreNotInGraph    = "not_in_graph"
)

// LangGraph's pseudo-nodes: not nodes (no node events), see SPEC §4.1.
const (
	langGraphStart = "__start__"
	langGraphEnd   = "__end__"
)

// fillCommon sets the convention-independent fields of out from the span.
// Every classifier calls it once it has recognised a span.
func fillCommon(res pcommon.Resource, span ptrace.Span, convention string, out *spanInfo) {
	out.convention = convention
	out.span = span
	out.resource = res
	out.traceID = span.TraceID()
	out.spanID = span.SpanID()
	out.parentID = span.ParentSpanID()
	out.startNanos = uint64(span.StartTimestamp())
	out.endNanos = uint64(span.EndTimestamp())
}

// fillOutcome sets the failure fields from the span status and the first
// `exception` event (OTel exception semantic conventions). Only an ERROR
// status makes a span failed: LangChain instrumentations also record
// exceptions that were caught and recovered (e.g. LangGraph's Command /
// interrupt control flow) and keep status OK; those spans keep empty
// failure fields.
func fillOutcome(span ptrace.Span, out *spanInfo) {
	status := span.Status()
	if status.Code() != ptrace.StatusCodeError {
		return
	}
	out.failed = true
	out.errorMessage = status.Message()
	events := span.Events()
	for i := 0; i < events.Len(); i++ {
		ev := events.At(i)
		if ev.Name() != "exception" {
			continue
		}
		ea := ev.Attributes()
		out.exceptionType = attrStr(ea, "exception.type")
		out.stackTrace = attrStr(ea, "exception.stacktrace")
		if out.errorMessage == "" {
			out.errorMessage = attrStr(ea, "exception.message")
		}
		break
	}
	if out.exceptionType == "" {
		out.exceptionType = attrStr(span.Attributes(), "exception.type")
	}
	if out.errorMessage == "" {
		out.errorMessage = attrStr(span.Attributes(), "exception.message")
	}
	if out.errorMessage == "" {
		out.errorMessage = out.exceptionType
	}
	splitJSStack(out)
}

// splitJSStack separates the stack LangChain.js appends to run errors
// ("<message>\n\n<Name>: <message>\n    at …", used as span status message
// and exception.message) into errorMessage, exceptionType and stackTrace.
func splitJSStack(out *spanInfo) {
	msg := out.errorMessage
	head, rest, ok := strings.Cut(msg, "\n\n")
	if !ok || !strings.Contains(rest, "\n    at ") {
		return
	}
	first, _, _ := strings.Cut(rest, "\n")
	name, _, ok := strings.Cut(first, ":")
	if !ok || !isIdentifier(name) {
		return
	}
	out.errorMessage = head
	if out.exceptionType == "" {
		out.exceptionType = name
	}
	if out.stackTrace == "" {
		out.stackTrace = rest
	}
}

// isIdentifier reports a JavaScript/Python class-name-like word.
func isIdentifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		letter := c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// setBad records the first reason a payload was unusable.
func setBad(out *spanInfo, reason string) {
	if out.badReason == "" {
		out.badReason = reason
	}
}

// attrStr returns a string attribute, or the text form of a scalar one;
// maps, slices and bytes read as absent ("").
func attrStr(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return v.AsString()
	default:
		return ""
	}
}

// attrJSONText returns a JSON-bearing attribute as text: a string as is, a
// map or slice as its JSON form (some SDKs set structured attributes).
func attrJSONText(m pcommon.Map, key string) string {
	v, ok := m.Get(key)
	if !ok {
		return ""
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return v.AsString()
	default:
		return ""
	}
}

// attrInt reads an integer given as int, integral double or decimal string.
func attrInt(m pcommon.Map, key string) (int64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return floatToInt(v.Double())
	case pcommon.ValueTypeStr:
		return parseIntText(v.Str())
	default:
		return 0, false
	}
}

// floatToInt converts an integral, finite float in int64 range.
func floatToInt(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f > 1<<62 || f < -(1<<62) {
		return 0, false
	}
	return int64(f), true
}

// parseIntText parses a decimal integer, tolerating surrounding spaces and
// an integral float form such as "3.0".
func parseIntText(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return floatToInt(f)
}

// jsonInt reads an integer from a JSON value that is a number or a string.
func jsonInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	if raw[0] == '"' {
		s, ok := jsonString(raw)
		if !ok {
			return 0, false
		}
		return parseIntText(s)
	}
	return parseIntText(string(raw))
}

// jsonString unquotes a JSON string value.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// attrStrings reads a list of strings given as a string slice, a JSON array
// text, or a single string.
func attrStrings(m pcommon.Map, key string) ([]string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return nil, false
	}
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		sl := v.Slice()
		out := make([]string, 0, sl.Len())
		for i := 0; i < sl.Len(); i++ {
			if e := sl.At(i); e.Type() == pcommon.ValueTypeStr {
				out = append(out, e.Str())
			}
		}
		return out, true
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if strings.HasPrefix(s, "[") {
			if len(s) > maxDecodeBytes {
				return nil, false
			}
			var list []string
			if err := json.Unmarshal([]byte(s), &list); err != nil {
				return nil, false
			}
			return list, true
		}
		if s == "" {
			return nil, false
		}
		return []string{s}, true
	default:
		return nil, false
	}
}

// stateObject returns text when it has the shape of a JSON object (a usable
// state snapshot); otherwise "" and a badReason. Empty text is simply absent.
//
// The check is deliberately cheap — valid UTF-8, starts with '{' and ends
// with '}' — because the engine parses every snapshot anyway (parseState,
// with depth and size limits) and counts what fails there; validating here
// too would scan each state twice on the hot path. Bare strings, arrays,
// numbers and truncated payloads are caught here.
func stateObject(text string, out *spanInfo) string {
	if text == "" {
		return ""
	}
	t := strings.TrimSpace(text)
	if !utf8.ValidString(t) {
		// encoding/json would silently turn bad bytes into U+FFFD.
		setBad(out, badStateNotUTF8)
		return ""
	}
	if !strings.HasPrefix(t, "{") {
		if strings.HasPrefix(t, "[") || strings.HasPrefix(t, "\"") || json.Valid([]byte(t)) {
			setBad(out, badStateNotObject)
		} else {
			setBad(out, badStateNotJSON)
		}
		return ""
	}
	if !strings.HasSuffix(t, "}") {
		setBad(out, badStateNotJSON)
		return ""
	}
	return t
}

// decodeObject decodes the top level of a JSON object into raw members.
// Numbers stay raw (no float rounding); nesting below the top level is not
// decoded. Returns nil and a reason for non-objects and oversize input.
func decodeObject(text string) (map[string]json.RawMessage, string) {
	t := strings.TrimSpace(text)
	if len(t) > maxDecodeBytes {
		return nil, badPayloadTooLarge
	}
	if !strings.HasPrefix(t, "{") {
		return nil, badStateNotObject
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(t), &m); err != nil {
		return nil, badStateNotJSON
	}
	return m, ""
}

// rawObject returns the raw JSON text of member when it is an object.
func rawObject(m map[string]json.RawMessage, member string) (string, bool) {
	raw, ok := m[member]
	if !ok {
		return "", false
	}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return "", false
	}
	return string(t), true
}

// routerChoice extracts the branch a router returned from its output text:
// plain text (OpenInference emits a lone string output as is), a JSON
// string, or a JSON array of strings (several targets, joined by ",").
// Anything else (objects, Send packets, numbers) is not a branch choice.
func routerChoice(text string) (string, bool) {
	t := strings.TrimSpace(text)
	if t == "" || len(t) > 4096 {
		return "", false
	}
	switch t[0] {
	case '"':
		return jsonString(json.RawMessage(t))
	case '[':
		var list []string
		if err := json.Unmarshal([]byte(t), &list); err != nil || len(list) == 0 {
			return "", false
		}
		for _, s := range list {
			if s == "" {
				return "", false
			}
		}
		return strings.Join(list, ","), true
	case '{':
		return "", false
	}
	if json.Valid([]byte(t)) {
		// true/false/null/numbers are not node names.
		return "", false
	}
	if strings.ContainsAny(t, "\n\r") {
		return "", false
	}
	return t, true
}

// routerChoiceRaw is routerChoice for a JSON member value.
func routerChoiceRaw(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || (t[0] != '"' && t[0] != '[') {
		return "", false
	}
	return routerChoice(string(t))
}

// isLangGraphPlumbing reports runnables LangGraph creates around nodes and
// edges (channel writers/readers, branch wrappers) that are neither nodes
// nor routers.
func isLangGraphPlumbing(name string) bool {
	for _, p := range []string{"ChannelWrite", "ChannelRead", "ChannelInvoke", "_write", "_route"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// stripOperation removes a GenAI-style "<operation> " prefix from a span
// name ("execute_task agent" -> "agent").
func stripOperation(name string, ops ...string) (string, bool) {
	for _, op := range ops {
		if rest, ok := strings.CutPrefix(name, op+" "); ok && strings.TrimSpace(rest) != "" {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// graphSchema is the GraphSchema JSON the DashFlow UI reads from
// GRAPH_START's graph_schema_json (field names as its TypeScript type).
type graphSchema struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	Nodes      []graphSchemaNode `json:"nodes"`
	Edges      []graphSchemaEdge `json:"edges"`
	EntryPoint string            `json:"entry_point"`
	Metadata   map[string]string `json:"metadata"`
}

type graphSchemaNode struct {
	Name         string            `json:"name"`
	NodeType     string            `json:"node_type"`
	InputFields  []string          `json:"input_fields"`
	OutputFields []string          `json:"output_fields"`
	Attributes   map[string]string `json:"attributes"`
}

type graphSchemaEdge struct {
	From     string `json:"from"`
	To       string `json:"to"`
	EdgeType string `json:"edge_type"`
}

// maxSchemaItems bounds the nodes and edges taken into a built schema.
const maxSchemaItems = 4096

// buildGraphSchema renders a GraphSchema from node names and (from, to)
// edges. Edge kinds are not told by the sources, so every edge is "direct";
// __start__/__end__ are not nodes but an edge from __start__ names the entry
// point.
func buildGraphSchema(name, source string, nodes []string, edges [][2]string) string {
	gs := graphSchema{
		Name:     name,
		Version:  "",
		Nodes:    []graphSchemaNode{},
		Edges:    []graphSchemaEdge{},
		Metadata: map[string]string{"source": source},
	}
	// Names as the events will carry them (classify_names.go).
	gs.Name, _ = boundName(name)
	seen := map[string]bool{}
	addNode := func(n string) {
		n, _ = boundName(n)
		if n == "" || n == langGraphStart || n == langGraphEnd || seen[n] || len(gs.Nodes) >= maxSchemaItems {
			return
		}
		seen[n] = true
		gs.Nodes = append(gs.Nodes, graphSchemaNode{
			Name: n, NodeType: "custom", InputFields: []string{}, OutputFields: []string{},
			Attributes: map[string]string{},
		})
	}
	for _, n := range nodes {
		addNode(n)
	}
	for _, e := range edges {
		if len(gs.Edges) >= maxSchemaItems {
			break
		}
		e[0], _ = boundName(e[0])
		e[1], _ = boundName(e[1])
		if e[0] == langGraphStart {
			if gs.EntryPoint == "" {
				gs.EntryPoint = e[1]
			}
			continue
		}
		addNode(e[0])
		if e[1] != langGraphEnd {
			addNode(e[1])
		}
		gs.Edges = append(gs.Edges, graphSchemaEdge{From: e[0], To: e[1], EdgeType: "direct"})
	}
	b, err := json.Marshal(gs)
	if err != nil {
		return ""
	}
	return string(b)
}

// sanitizeReason keeps a reason label short and of safe characters: it ends
// up as a metric attribute value.
func sanitizeReason(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
