// Package workload builds the synthetic traffic of the end-to-end benchmark:
// graph-shaped runs carrying our dashstream.* span keys (SPEC §4.1, first
// row), or the same span layout without graph attributes ("plain"). The load
// generator replays it and the harness recomputes the same states to size the
// full-state baseline, so both sides share this package.
package workload

import (
	"errors"
	"fmt"
	"time"
)

// Kinds of traffic.
const (
	KindGraph = "graph" // spans with dashstream.* keys and a state after every node
	KindPlain = "plain" // same layout, HTTP-like attributes, nothing to translate
)

// Change patterns of the state from one node to the next.
const (
	PatternAppend = "append" // every node appends one message to a list
	PatternField  = "field"  // every node replaces the value of one field
)

// Config describes one generation of runs. A generation is Threads runs
// (one thread each) of Nodes node spans plus the graph span, sent as Nodes+1
// requests: request s carries node s of every run, the last request the graph
// spans — the order an SDK's batch processor exports them in.
type Config struct {
	Kind    string
	Pattern string
	// Threads is the number of runs per generation, hence spans per request.
	Threads int
	// Nodes is the number of node spans (steps) per run.
	Nodes int
	// StateBytes is the size of the state's fixed text part ("context").
	StateBytes int
	// MessageBytes is the size of each appended message (append pattern) or
	// of each replaced field value (field pattern).
	MessageBytes int
	// NodeDuration is how long each node span lasts.
	NodeDuration time.Duration
	// Seed makes the generated text reproducible.
	Seed uint64
}

// DefaultConfig is the workload `make bench-e2e` uses unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Kind:         KindGraph,
		Pattern:      PatternAppend,
		Threads:      50,
		Nodes:        20,
		StateBytes:   1024,
		MessageBytes: 256,
		NodeDuration: 2 * time.Millisecond,
		Seed:         1,
	}
}

// Validate reports settings the generator cannot honour.
func (c Config) Validate() error {
	var errs []error
	switch c.Kind {
	case KindGraph, KindPlain:
	default:
		errs = append(errs, fmt.Errorf("kind %q: want %q or %q", c.Kind, KindGraph, KindPlain))
	}
	switch c.Pattern {
	case PatternAppend, PatternField:
	default:
		errs = append(errs, fmt.Errorf("pattern %q: want %q or %q", c.Pattern, PatternAppend, PatternField))
	}
	if c.Threads < 1 || c.Threads > 100_000 {
		errs = append(errs, fmt.Errorf("threads %d: want 1..100000", c.Threads))
	}
	if c.Nodes < 1 || c.Nodes > 1000 {
		errs = append(errs, fmt.Errorf("nodes %d: want 1..1000", c.Nodes))
	}
	if c.StateBytes < 0 || c.StateBytes > 512<<10 {
		errs = append(errs, fmt.Errorf("state bytes %d: want 0..524288", c.StateBytes))
	}
	if c.MessageBytes < 1 || c.MessageBytes > 64<<10 {
		errs = append(errs, fmt.Errorf("message bytes %d: want 1..65536", c.MessageBytes))
	}
	if c.NodeDuration < 0 {
		errs = append(errs, fmt.Errorf("node duration %s is negative", c.NodeDuration))
	}
	return errors.Join(errs...)
}

// SpansPerGeneration is the number of spans one generation sends.
func (c Config) SpansPerGeneration() int { return c.Threads * (c.Nodes + 1) }

// NodeSpansPerGeneration is the number of node spans (steps) per generation.
func (c Config) NodeSpansPerGeneration() int { return c.Threads * c.Nodes }
