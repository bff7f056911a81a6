package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// The demo graph: a research assistant that plans, searches, drafts with a
// (fake) model, reviews its draft and either sends it back for another
// revision (a conditional branch) or publishes it.
//
//	plan → research → draft → review ─┬─(approved)→ publish
//	                    ↑             │
//	                    └─(revise)────┘
func newAssistantGraph() *Graph {
	g := NewGraph("research-assistant")
	g.AddNode("plan", planNode)
	g.AddNode("research", researchNode)
	g.AddNode("draft", draftNode)
	g.AddNode("review", reviewNode)
	g.AddNode("publish", publishNode)
	g.AddEdge("plan", "research")
	g.AddEdge("research", "draft")
	g.AddEdge("draft", "review")
	g.AddConditionalEdge("review", routeAfterReview, "draft", "publish")
	g.AddEdge("publish", end)
	return g
}

// applyInput merges one invocation's input into the thread's state the way
// a LangGraph reducer would: the question is appended to the messages, the
// per-run fields are reset, the history stays.
func applyInput(s State, topic string) {
	s["topic"] = topic
	s["revision"] = 0
	s["approved"] = false
	s["feedback"] = ""
	s["messages"] = append(list(s["messages"]), map[string]any{"role": "user", "content": "Write a short brief on " + topic + "."})
	if _, ok := s["published"]; !ok {
		s["published"] = []any{}
	}
	if _, ok := s["tokens"]; !ok {
		s["tokens"] = map[string]any{"input": 0, "output": 0}
	}
	if _, ok := s["steps"]; !ok {
		s["steps"] = 0
	}
}

func planNode(_ context.Context, _ *NodeContext, s State) error {
	topic, _ := s["topic"].(string)
	questions := []any{
		"What is " + topic + "?",
		"Who uses " + topic + " and why?",
	}
	s["plan"] = questions
	say(s, "planner", fmt.Sprintf("Plan: answer %d questions about %s.", len(questions), topic))
	return nil
}

func researchNode(ctx context.Context, nc *NodeContext, s State) error {
	sources := list(s["sources"])
	for _, q := range list(s["plan"]) {
		res, err := nc.CallTool(ctx, "web_search", map[string]any{"query": q, "max_results": 1})
		if err != nil {
			return err
		}
		sources = append(sources, list(res["results"])...)
	}
	s["sources"] = sources
	say(s, "researcher", fmt.Sprintf("Found %d sources so far.", len(sources)))
	return nil
}

func draftNode(ctx context.Context, nc *NodeContext, s State) error {
	rev := intOf(s["revision"]) + 1
	topic, _ := s["topic"].(string)
	prompt := fmt.Sprintf("Write revision %d of a brief on %s using %d sources. Feedback: %v",
		rev, topic, len(list(s["sources"])), s["feedback"])
	c, err := nc.Complete(ctx, prompt)
	if err != nil {
		return err
	}
	s["revision"] = rev
	s["draft"] = c.Text
	tokens, _ := s["tokens"].(map[string]any)
	if tokens == nil {
		tokens = map[string]any{}
	}
	tokens["input"] = intOf(tokens["input"]) + c.InputTokens
	tokens["output"] = intOf(tokens["output"]) + c.OutputTokens
	s["tokens"] = tokens
	say(s, "writer", c.Text)
	return nil
}

// reviewNode approves from the second revision on, so every run takes the
// conditional branch back to draft exactly once.
func reviewNode(_ context.Context, _ *NodeContext, s State) error {
	rev := intOf(s["revision"])
	approved := rev >= 2
	s["approved"] = approved
	if approved {
		s["feedback"] = ""
		say(s, "reviewer", fmt.Sprintf("Revision %d approved.", rev))
	} else {
		s["feedback"] = "Cite the sources and shorten the opening."
		say(s, "reviewer", fmt.Sprintf("Revision %d needs work: cite the sources.", rev))
	}
	return nil
}

func routeAfterReview(s State) string {
	if approved, _ := s["approved"].(bool); approved {
		return "publish"
	}
	return "draft"
}

func publishNode(_ context.Context, _ *NodeContext, s State) error {
	topic, _ := s["topic"].(string)
	s["published"] = append(list(s["published"]), map[string]any{"topic": topic, "revision": intOf(s["revision"])})
	say(s, "publisher", "Published the brief on "+topic+".")
	return nil
}

// say appends a message from a node and counts the step.
func say(s State, name, content string) {
	s["messages"] = append(list(s["messages"]), map[string]any{"role": "assistant", "name": name, "content": content})
	s["steps"] = intOf(s["steps"]) + 1
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func intOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return 0
}

// fakeModel answers deterministically from the prompt, so the demo needs no
// LLM; latency makes its spans last like a real call.
type fakeModel struct{ latency time.Duration }

func (fakeModel) Name() string { return "fake-llm-1" }

func (m fakeModel) Complete(ctx context.Context, prompt string) (Completion, error) {
	if err := pause(ctx, m.latency); err != nil {
		return Completion{}, err
	}
	text := fmt.Sprintf("Brief (%08x): %s", hash32(prompt), firstWords(prompt, 8))
	return Completion{Text: text, InputTokens: len(strings.Fields(prompt)),
		OutputTokens: len(strings.Fields(text)), FinishReason: "stop"}, nil
}

// webSearch is a fake search tool returning one made-up result per query.
func webSearch(latency time.Duration) Tool {
	return func(ctx context.Context, args map[string]any) (map[string]any, error) {
		if err := pause(ctx, latency); err != nil {
			return nil, err
		}
		q, _ := args["query"].(string)
		h := hash32(q)
		return map[string]any{"results": []any{map[string]any{
			"title": "About: " + q,
			"url":   fmt.Sprintf("https://example.org/doc/%08x", h),
		}}}, nil
	}
}

// pause simulates work; it returns early when ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}
