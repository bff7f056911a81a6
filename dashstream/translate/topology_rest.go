package translate

import (
	"encoding/binary"
	"unique"
)

// A finished thread's observed graphs rest as one interned string each
// (unique.Make): threads that ran the same graph the same way (most
// threads of a deployment run one graph) share one copy of its nodes and
// edges instead of holding a node list, an edge list and every name each
// (about 1.3 KB a thread for a 20-node graph). The lists are decoded again
// when the thread's next run uses the graph (thaw); the decoded names are
// substrings of the interned text, so they cost no copy either.

// freeze replaces the graph's node and edge lists by their interned
// encoding (nothing to do for a graph without nodes, or one frozen
// already) and drops the rendered schema.
func (g *observedGraph) freeze() {
	g.schema = ""
	if g.frozen || len(g.nodes) == 0 {
		return
	}
	g.rest = unique.Make(string(encodeTopology(g.nodes, g.edges)))
	g.nodes, g.edges = nil, nil
	g.frozen = true
}

// thaw gives a frozen graph its node and edge lists back.
func (g *observedGraph) thaw() {
	if !g.frozen {
		return
	}
	g.nodes, g.edges = decodeTopology(g.rest.Value())
	g.rest = unique.Handle[string]{}
	g.frozen = false
}

// encodeTopology writes nodes (name, kinds) then edges (from, to,
// conditional, label), lengths as uvarints.
func encodeTopology(nodes []observedNode, edges []observedEdge) []byte {
	n := 2 * binary.MaxVarintLen64
	for _, nd := range nodes {
		n += len(nd.name) + 2*binary.MaxVarintLen64
	}
	for _, e := range edges {
		n += len(e.label) + 4*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for _, nd := range nodes {
		b = binary.AppendUvarint(b, uint64(len(nd.name)))
		b = append(b, nd.name...)
		b = binary.AppendUvarint(b, uint64(nd.kinds))
	}
	b = binary.AppendUvarint(b, uint64(len(edges)))
	for _, e := range edges {
		b = binary.AppendUvarint(b, uint64(e.from))
		b = binary.AppendUvarint(b, uint64(e.to))
		flag := uint64(0)
		if e.conditional {
			flag = 1
		}
		b = binary.AppendUvarint(b, flag)
		b = binary.AppendUvarint(b, uint64(len(e.label)))
		b = append(b, e.label...)
	}
	return b
}

// decodeTopology reads what encodeTopology wrote. The text is always one
// encodeTopology wrote in this process, so it is not validated beyond not
// reading past its end.
func decodeTopology(s string) ([]observedNode, []observedEdge) {
	r := topoReader{s: s}
	nodes := make([]observedNode, r.uvarint())
	for i := range nodes {
		nodes[i].name = r.str()
		nodes[i].kinds = int(r.uvarint())
	}
	var edges []observedEdge
	if n := r.uvarint(); n > 0 {
		edges = make([]observedEdge, n)
	}
	for i := range edges {
		edges[i].from = uint16(r.uvarint())
		edges[i].to = uint16(r.uvarint())
		edges[i].conditional = r.uvarint() == 1
		edges[i].label = r.str()
	}
	return nodes, edges
}

// topoReader reads a topology's encoding; past its end it reads zeros.
type topoReader struct {
	s string
	i int
}

func (r *topoReader) uvarint() uint64 {
	var v uint64
	for shift := 0; r.i < len(r.s) && shift < 64; shift += 7 {
		c := r.s[r.i]
		r.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	return v
}

func (r *topoReader) str() string {
	n := int(min(r.uvarint(), uint64(len(r.s)-r.i)))
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}
