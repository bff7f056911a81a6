package workload_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// chatWords is the vocabulary of the long chat states: an assistant
// answering questions about a code base and its deployment, with the
// repetition real conversations have (names, identifiers, phrases).
var chatWords = strings.Fields(`the a an of to in and for on with is are was be this that it as by from at or
not can will should would could we you I they our your their which when where how why what if then than
so but also only just more most some any each all both other such into over under after before between
service deployment cluster pod container image registry build pipeline test failure error timeout retry
request response latency throughput memory CPU disk network config configuration value default option
flag environment variable secret token key database query index table migration schema column row
cache invalidation queue consumer producer topic partition offset lag broker replica leader follower
function method class struct interface package module import export return argument parameter type
file directory path line column stack trace log metric span trace exporter collector receiver processor
user customer team owner review change commit branch merge release version rollback incident alert page
increase decrease check verify confirm compare measure run start stop restart update upgrade install
looks seems appears means suggests indicates shows found noticed saw tried used added removed fixed`)

// chatFunctions are the tools the assistant calls.
var chatFunctions = []string{"search_docs", "read_file", "run_query", "get_metrics", "list_pods", "open_ticket"}

// chatText is about n bytes of sentences drawn with r.
func chatText(r *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n + 32)
	start := true
	for b.Len() < n {
		w := chatWords[r.IntN(len(chatWords))]
		if start {
			w = strings.ToUpper(w[:1]) + w[1:]
			start = false
		}
		b.WriteString(w)
		switch k := r.IntN(14); {
		case k == 0:
			b.WriteString(". ")
			start = true
		case k == 1:
			b.WriteString(", ")
		case k == 2 && b.Len() > 200:
			fmt.Fprintf(&b, " `%s_%d` ", chatWords[r.IntN(len(chatWords))], r.IntN(100))
		default:
			b.WriteByte(' ')
		}
	}
	return strings.TrimSpace(b.String()) + "."
}

func chatID(r *rand.Rand, prefix string) string {
	var raw [12]byte
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	return prefix + hex.EncodeToString(raw[:])
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatMessage struct {
	ID         string         `json:"id"`
	Role       string         `json:"role"`
	Content    string         `json:"content"`
	Name       string         `json:"name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	CreatedAt  string         `json:"created_at"`
	Usage      *chatUsage     `json:"usage,omitempty"`
}

type chatDoc struct {
	URL     string  `json:"url"`
	Title   string  `json:"title"`
	Snippet string  `json:"snippet"`
	Score   float64 `json:"score"`
}

// chatState is the JSON of an agent's state after a conversation of
// messages chat messages: a system prompt, user turns, assistant turns
// that call tools (about one in two), tool results (search hits as JSON)
// and per-turn token usage, plus a running summary and plan. 50 messages
// are about 55 KiB of JSON, 100 about 110 KiB, 200 about 210 KiB.
func chatState(seed uint64, messages int) []byte {
	r := rand.New(rand.NewPCG(seed, 22))
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	msgs := []chatMessage{{ID: chatID(r, "msg_"), Role: "system", CreatedAt: at.Format(time.RFC3339Nano),
		Content: "You are the on-call assistant of the platform team. " + chatText(r, 1200)}}
	var pending []chatToolCall
	prompt := 400
	for len(msgs) < messages {
		at = at.Add(time.Duration(2000+r.IntN(30000)) * time.Millisecond)
		m := chatMessage{ID: chatID(r, "msg_"), CreatedAt: at.Format(time.RFC3339Nano)}
		switch {
		case len(pending) > 0:
			call := pending[0]
			pending = pending[1:]
			docs := make([]chatDoc, 2+r.IntN(4))
			for i := range docs {
				docs[i] = chatDoc{
					URL:     fmt.Sprintf("https://docs.example.com/%s/%s-%d", chatWords[r.IntN(len(chatWords))], chatWords[r.IntN(len(chatWords))], r.IntN(1000)),
					Title:   chatText(r, 30+r.IntN(40)),
					Snippet: chatText(r, 150+r.IntN(350)),
					Score:   float64(r.IntN(1000)) / 1000,
				}
			}
			body, _ := json.Marshal(docs)
			m.Role, m.Name, m.ToolCallID, m.Content = "tool", call.Function.Name, call.ID, string(body)
		case msgs[len(msgs)-1].Role == "assistant" && len(msgs[len(msgs)-1].ToolCalls) == 0:
			m.Role, m.Content = "user", chatText(r, 40+r.IntN(360))
		default:
			m.Role, m.Content = "assistant", chatText(r, 150+r.IntN(1300))
			if r.IntN(2) == 0 {
				for range 1 + r.IntN(2) {
					var c chatToolCall
					c.ID, c.Type = chatID(r, "call_"), "function"
					c.Function.Name = chatFunctions[r.IntN(len(chatFunctions))]
					args, _ := json.Marshal(map[string]any{"query": chatText(r, 20+r.IntN(60)), "limit": 1 + r.IntN(10)})
					c.Function.Arguments = string(args)
					m.ToolCalls = append(m.ToolCalls, c)
				}
				pending = append(pending, m.ToolCalls...)
				m.Content = chatText(r, 40+r.IntN(160))
			}
			prompt += len(msgs[len(msgs)-1].Content) / 4
			out := len(m.Content) / 4
			m.Usage = &chatUsage{PromptTokens: prompt, CompletionTokens: out, TotalTokens: prompt + out}
		}
		msgs = append(msgs, m)
	}
	plan := make([]map[string]any, 5)
	for i := range plan {
		plan[i] = map[string]any{"step": i + 1, "done": i < 3, "description": chatText(r, 60+r.IntN(80))}
	}
	out, _ := json.Marshal(map[string]any{
		"messages":     msgs,
		"summary":      chatText(r, 600),
		"plan":         plan,
		"thread_title": chatText(r, 40),
		"user":         map[string]any{"id": chatID(r, "usr_"), "team": "platform", "timezone": "Europe/Paris"},
		"step":         len(msgs),
	})
	return out
}
