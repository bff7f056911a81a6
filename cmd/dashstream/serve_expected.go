package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// The DashFlow UI's "Set expected" button stores, per graph name, the schema
// id a user expects, and the UI flags runs whose schema differs. DashFlow's
// relay keeps them in /api/expected-schema/{graph}; this is the same API,
// in memory (they are lost when serve stops) and bounded.

// maxExpectedSchemas bounds the graph names remembered.
const maxExpectedSchemas = 1000

// expectedSchema is one stored expectation, as the UI reads it.
type expectedSchema struct {
	GraphName   string `json:"graph_name"`
	SchemaID    string `json:"schema_id"`
	SetAt       string `json:"set_at,omitempty"`
	Environment string `json:"environment,omitempty"`
}

type expectedSchemas struct {
	mu sync.Mutex
	m  map[string]expectedSchema
}

func (es *expectedSchemas) list(w http.ResponseWriter, _ *http.Request) {
	es.mu.Lock()
	out := make([]expectedSchema, 0, len(es.m))
	for _, e := range es.m {
		out = append(out, e)
	}
	es.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].GraphName < out[j].GraphName })
	writeJSON(w, out)
}

// get answers 200 with a null schema_id when none is set (DashFlow's relay
// answers 404, which browsers log as an error on every page load; the UI
// treats both as "no expectation").
func (es *expectedSchemas) get(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("graph")
	es.mu.Lock()
	e, ok := es.m[name]
	es.mu.Unlock()
	if !ok {
		writeJSON(w, map[string]any{"graph_name": name, "schema_id": nil})
		return
	}
	writeJSON(w, e)
}

func (es *expectedSchemas) set(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("graph")
	var req struct {
		SchemaID    string `json:"schema_id"`
		Environment string `json:"environment"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || json.Unmarshal(body, &req) != nil || req.SchemaID == "" || len(req.SchemaID) > 256 || len(name) > 256 {
		writeJSONStatus(w, http.StatusBadRequest, map[string]any{"error": `body must be {"schema_id": "…"}`})
		return
	}
	e := expectedSchema{GraphName: name, SchemaID: req.SchemaID, Environment: req.Environment,
		SetAt: time.Now().UTC().Format(time.RFC3339)}
	es.mu.Lock()
	defer es.mu.Unlock()
	if _, ok := es.m[name]; !ok && len(es.m) >= maxExpectedSchemas {
		writeJSONStatus(w, http.StatusInsufficientStorage, map[string]any{"error": "too many expected schemas"})
		return
	}
	if es.m == nil {
		es.m = map[string]expectedSchema{}
	}
	es.m[name] = e
	writeJSON(w, e)
}

func (es *expectedSchemas) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("graph")
	es.mu.Lock()
	e, ok := es.m[name]
	delete(es.m, name)
	es.mu.Unlock()
	if !ok {
		writeJSONStatus(w, http.StatusNotFound, map[string]any{"error": "No expected schema to delete", "graph_name": name})
		return
	}
	writeJSON(w, e)
}
