package translate

import (
	"cmp"
	"slices"
	"strings"
)

// Reasons counted for flat layouts (spanInfo.flat).
const (
	badFlatNodeNameUnknown = "node_name_unknown"
	badFlatAmbiguousNode   = "flat_span_ambiguous_node"
	// badFlatRouterSourceUnknown: a router decision inside an unnamed node
	// execution (its choice still names the next node).
	badFlatRouterSourceUnknown = "router_source_unknown"
)

// placeFlat resolves a run whose spans do not nest (OpenLLMetry JS): model
// and tool calls go into the node execution running when they started (the
// earliest-started one when parallel nodes overlap, counted as ambiguous), a
// router is told the node it ran in, and an unnamed node execution takes the
// name of the router choice made just before it. Node executions nothing
// names keep their span's name and are counted, with one log line per call.
func placeFlat(rw *runWork, found *issues) {
	for _, si := range rw.pseudo {
		if si.flat {
			// The graph chain's final state (__end__) belongs at its end; its
			// start, before every node, would make each node's state look late.
			si.startNanos = si.endNanos
		}
	}
	flatNodes := make([]*nodeExec, 0, len(rw.nodes))
	for _, ne := range rw.nodes {
		if ne.si.flat {
			flatNodes = append(flatNodes, ne)
		}
	}
	if len(flatNodes) == 0 {
		return
	}
	slices.SortStableFunc(flatNodes, func(a, b *nodeExec) int { return cmp.Compare(a.si.startNanos, b.si.startNanos) })
	containing := func(si *spanInfo) *nodeExec {
		var at *nodeExec
		n := 0
		for _, ne := range flatNodes {
			if ne.si.startNanos <= si.startNanos && si.startNanos <= ne.si.endNanos {
				if at == nil {
					at = ne
				}
				n++
			}
		}
		if n > 1 {
			found.add(badFlatAmbiguousNode, si)
		}
		return at
	}

	// Routers in time order name the first unnamed execution after them.
	var routers []*spanInfo
	for _, si := range rw.orphans {
		if si.flat && si.role == roleRouter {
			routers = append(routers, si)
		}
	}
	slices.SortStableFunc(routers, func(a, b *spanInfo) int { return cmp.Compare(a.startNanos, b.startNanos) })
	for _, r := range routers {
		if strings.Contains(r.routerChoice, ",") {
			continue
		}
		for _, ne := range flatNodes {
			if ne.si.nameUnknown && ne.si.startNanos >= r.endNanos {
				ne.si.nodeName = r.routerChoice
				ne.si.nameUnknown = false
				break
			}
		}
	}

	rest := rw.orphans[:0]
	for _, si := range rw.orphans {
		if !si.flat {
			rest = append(rest, si)
			continue
		}
		ne := containing(si)
		switch {
		case ne == nil:
			rest = append(rest, si)
		case si.role == roleRouter && ne.si.nameUnknown:
			// A decision of a node nobody can name: it named the next node
			// above, but an edge from "some node" is no branch to show.
			found.add(badFlatRouterSourceUnknown, si)
		case si.role == roleRouter:
			// attach finds the node again by name and time.
			si.nodeName = ne.si.nodeName
			rest = append(rest, si)
		default:
			ne.children = append(ne.children, si)
		}
	}
	rw.orphans = rest

	for _, ne := range flatNodes {
		if ne.si.nameUnknown {
			// account logs these once per call, at info level.
			found.add(badFlatNodeNameUnknown, ne.si)
		}
	}
}
