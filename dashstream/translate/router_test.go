package translate

import (
	"slices"
	"testing"

	pb "github.com/dashstream/dashstreamexporter/dashstream/dashstreampb"
)

// TestRouterDecisionsPerStep: a router that runs twice in one run (review
// sends the draft back once, then on to publish) gives two conditional
// branches, each with its own choice — the second decision must not
// overwrite the first.
func TestRouterDecisionsPerStep(t *testing.T) {
	const thread, run = "loop-thread", "loop-run"
	node := func(name string, step int) map[string]any {
		return map[string]any{"dashstream.span.kind": "node", "dashstream.thread_id": thread,
			"dashstream.run_id": run, "dashstream.node.name": name, "dashstream.step": step}
	}
	router := func(choice string) map[string]any {
		return map[string]any{"dashstream.span.kind": "router", "dashstream.thread_id": thread,
			"dashstream.run_id": run, "dashstream.router.choice": choice}
	}
	graph := map[string]any{"dashstream.span.kind": "graph", "dashstream.thread_id": thread,
		"dashstream.run_id": run, "dashstream.graph.name": "loop"}
	td := buildTraces(
		sp{trace: "t", id: "draft1", parent: "g", name: "draft", start: 10, end: 20, attrs: node("draft", 1)},
		sp{trace: "t", id: "review1", parent: "g", name: "review", start: 20, end: 30, attrs: node("review", 2)},
		sp{trace: "t", id: "route1", parent: "review1", name: "should_continue", start: 28, end: 29, attrs: router("draft")},
		sp{trace: "t", id: "draft2", parent: "g", name: "draft", start: 30, end: 40, attrs: node("draft", 3)},
		sp{trace: "t", id: "review2", parent: "g", name: "review", start: 40, end: 50, attrs: node("review", 4)},
		sp{trace: "t", id: "route2", parent: "review2", name: "should_continue", start: 48, end: 49, attrs: router("publish")},
		sp{trace: "t", id: "publish", parent: "g", name: "publish", start: 50, end: 60, attrs: node("publish", 5)},
		sp{trace: "t", id: "g", name: "loop", start: 0, end: 61, attrs: graph},
	)
	tr := newTestTranslator(t, DefaultConfig())
	res := translateAll(t, tr, td)

	var got []string
	for _, d := range decodeAll(t, res.Records) {
		ev := d.msg.GetEvent()
		if ev == nil {
			continue
		}
		switch ev.GetEventType() {
		case pb.EventType_EVENT_TYPE_EDGE_TRAVERSAL, pb.EventType_EVENT_TYPE_CONDITIONAL_BRANCH:
			got = append(got, kindOf(d.msg)+"->"+ev.GetAttributes()["to"].GetStringValue())
		}
	}
	want := []string{
		"EDGE_TRAVERSAL:draft->review",
		"CONDITIONAL_BRANCH:review->draft",
		"EDGE_TRAVERSAL:draft->review",
		"CONDITIONAL_BRANCH:review->publish",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("edges:\n got %q\nwant %q", got, want)
	}
}
