package workload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// vocabulary gives the generated text the compressibility of prose: zstd
// shrinks it about as much as real chat messages, not 100× like repeated
// bytes would.
var vocabulary = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their has would when if so no
what can out other some time will into only about could these them new may then do first any my now
such like our over man also did most even made after many before must through back years where much
your way well down should because each just those people how too little state world still own see
men work long here get both between life being under never day same another know while last might us
great old year off come since against go came right used take three agent graph node tool model answer
question search result retrieve document summary plan step draft review message user assistant system
context memory thread checkpoint branch router edge value field update reply query source citation`)

// text returns about n bytes of space-separated words drawn with r.
func text(r *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[r.IntN(len(vocabulary))])
	}
	return b.String()[:n]
}

// message is one entry of the state's message list.
type message struct {
	Role    string `json:"role"`
	Node    string `json:"node,omitempty"`
	Content string `json:"content"`
}

// state is the graph state the synthetic runtime carries. encoding/json
// writes struct fields in declaration order and map keys sorted, so the
// JSON is deterministic.
type state struct {
	Context  string            `json:"context"`
	Fields   map[string]string `json:"fields,omitempty"`
	Messages []message         `json:"messages"`
}

// fieldCount is how many fields the change-one-field pattern rotates over.
const fieldCount = 10

// NodeName is the name of the node executed at step (0-based).
func NodeName(step int) string { return fmt.Sprintf("node_%02d", step) }

// States returns the JSON of the initial state of thread index t (0-based
// within a generation) and of the state after each of the Nodes steps.
// Every generation replays the same states; different threads differ.
func (c Config) States(t int) (initial []byte, after [][]byte, err error) {
	r := rand.New(rand.NewPCG(c.Seed, uint64(t)+1))
	s := state{
		Context:  text(r, c.StateBytes),
		Messages: []message{{Role: "user", Content: text(r, c.MessageBytes)}},
	}
	if c.Pattern == PatternField {
		s.Fields = make(map[string]string, fieldCount)
		for i := range fieldCount {
			s.Fields[fmt.Sprintf("f%02d", i)] = text(r, c.MessageBytes)
		}
	}
	if initial, err = json.Marshal(s); err != nil {
		return nil, nil, fmt.Errorf("encoding initial state: %w", err)
	}
	after = make([][]byte, c.Nodes)
	for step := range c.Nodes {
		switch c.Pattern {
		case PatternAppend:
			s.Messages = append(s.Messages, message{Role: "assistant", Node: NodeName(step), Content: text(r, c.MessageBytes)})
		case PatternField:
			s.Fields[fmt.Sprintf("f%02d", step%fieldCount)] = text(r, c.MessageBytes)
		}
		if after[step], err = json.Marshal(s); err != nil {
			return nil, nil, fmt.Errorf("encoding state after step %d: %w", step, err)
		}
	}
	return initial, after, nil
}
