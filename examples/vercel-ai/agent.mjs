// A Vercel AI SDK agent (generateText with two tools) on the SDK's own mock
// model, traced by @ai-sdk/otel (OpenTelemetry GenAI conventions), used to
// produce real spans for the DashStream exporter.
//
//   node agent.mjs                      export spans over OTLP/HTTP (JSON) to a collector
//   node agent.mjs --capture FILE       write the spans as OTLP JSON to FILE instead
//   node agent.mjs --expect FILE        also write the conversation per thread
//
// One conversation ("trip-1") runs two turns: the second turn sends the whole
// history of the first, as a chat application does. See README.md.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";

import { OpenTelemetry } from "@ai-sdk/otel";
import { generateText, isStepCount, registerTelemetry, tool } from "ai";
import { MockLanguageModelV4 } from "ai/test";
import { z } from "zod";

const SERVICE_NAME = "dashstream-example-vercel-ai";
const DEFAULT_ENDPOINT = "http://127.0.0.1:4318";
const AGENT = "trip_planner";

// currentConversation is the conversation whose turn is running.
let currentConversation = "";

const USAGE = `usage: node agent.mjs [--capture FILE] [--expect FILE] [--thread-prefix P]

  --capture FILE       write the spans as OTLP JSON ({"resourceSpans":[...]}) to FILE
  --expect FILE        write each thread's conversation (the state the stream must replay to)
  --thread-prefix P    prefix for the conversation ids

Without --capture the spans go over OTLP/HTTP (JSON) to $OTEL_EXPORTER_OTLP_ENDPOINT
(default ${DEFAULT_ENDPOINT}), path /v1/traces.`;

function setupTracing({ capture }) {
  if (!capture && !process.env.OTEL_EXPORTER_OTLP_ENDPOINT && !process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = DEFAULT_ENDPOINT;
  }
  const memory = capture ? new InMemorySpanExporter() : null;
  const remote = capture ? null : new ReportingExporter(new OTLPTraceExporter());
  const processor = capture ? new SimpleSpanProcessor(memory) : new BatchSpanProcessor(remote);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": SERVICE_NAME }),
    spanProcessors: [processor],
  });
  provider.register();
  // The AI SDK has no conversation id of its own: enrichSpan puts the
  // application's on every span as the GenAI conventions'
  // gen_ai.conversation.id (the turns run one after another here).
  registerTelemetry(
    new OpenTelemetry({
      agentSpanName: "functionId",
      enrichSpan: () => (currentConversation ? { "gen_ai.conversation.id": currentConversation } : {}),
    }),
  );
  return { provider, memory, remote };
}

// ReportingExporter counts what the wrapped exporter delivered and failed to.
class ReportingExporter {
  constructor(inner) {
    this.inner = inner;
    this.exported = 0;
    this.failed = 0;
    this.lastError = null;
  }
  export(spans, done) {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.exported += spans.length;
      } else {
        this.failed += spans.length;
        this.lastError = result.error ?? new Error("export failed");
      }
      done(result);
    });
  }
  forceFlush() {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

function otlpJSON(spans) {
  return JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
}

// ---------------------------------------------------------------------------
// The mock model: asked a question it calls get_weather and get_time for the
// city; given both tool results it answers.

const WEATHER = { Paris: "18°C and cloudy", Berlin: "12°C and raining" };
const TIME = { Paris: "14:05", Berlin: "14:05" };

function words(prompt) {
  let n = 0;
  for (const m of prompt) {
    const parts = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    for (const p of parts) {
      n += JSON.stringify(p.text ?? p.output ?? p.input ?? "").split(/\s+/).length;
    }
  }
  return n;
}

function usage(input, output) {
  return {
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

const model = new MockLanguageModelV4({
  provider: "mock-provider",
  modelId: "mock-planner-1",
  doGenerate: async ({ prompt }) => {
    const last = prompt[prompt.length - 1];
    if (last.role === "tool") {
      const results = last.content.filter((p) => p.type === "tool-result").map((p) => p.output.value);
      const text = `Here you go: ${results.join("; ")}.`;
      return {
        content: [{ type: "text", text }],
        finishReason: { unified: "stop", raw: "stop" },
        usage: usage(words(prompt), text.split(/\s+/).length),
        warnings: [],
      };
    }
    const question = last.content.map((p) => p.text ?? "").join(" ");
    const city = /in ([A-Z][a-z]+)/.exec(question)?.[1] ?? "Paris";
    const n = prompt.length;
    return {
      content: [
        { type: "tool-call", toolCallId: `call_weather_${n}`, toolName: "get_weather", input: JSON.stringify({ city }) },
        { type: "tool-call", toolCallId: `call_time_${n}`, toolName: "get_time", input: JSON.stringify({ city }) },
      ],
      finishReason: { unified: "tool-calls", raw: "tool_calls" },
      usage: usage(words(prompt), 16),
      warnings: [],
    };
  },
});

const tools = {
  get_weather: tool({
    description: "Current weather for a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `${city}: ${WEATHER[city] ?? "unknown"}`,
  }),
  get_time: tool({
    description: "Local time in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `${city} local time ${TIME[city] ?? "unknown"}`,
  }),
};

// ---------------------------------------------------------------------------
// Runs

function scenario(prefix) {
  return [
    { conversation: `${prefix}trip-1`, question: "What is the weather in Paris?" },
    { conversation: `${prefix}trip-1`, question: "And in Berlin?" },
  ];
}

async function runScenario(prefix) {
  const threads = new Map();
  for (const { conversation, question } of scenario(prefix)) {
    const t = threads.get(conversation) ?? { thread_id: conversation, history: [], runs: [] };
    threads.set(conversation, t);
    t.history.push({ role: "user", content: question });
    currentConversation = conversation;
    const result = await generateText({
      model,
      tools,
      stopWhen: isStepCount(4),
      messages: t.history,
      telemetry: { functionId: AGENT },
    });
    t.history.push(...result.responseMessages);
    t.runs.push({
      question,
      status: "ok",
      steps: result.steps.length,
      tool_calls: result.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName)),
      answer: result.text,
    });
    console.error(`${conversation}: turn ${t.runs.length}: ${result.steps.length} steps: ${result.text}`);
  }
  return [...threads.values()];
}

async function main() {
  const opts = parseArgs({
    args: process.argv.slice(2),
    options: {
      capture: { type: "string" },
      expect: { type: "string" },
      "thread-prefix": { type: "string", default: "" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }).values;
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const { provider, memory, remote } = setupTracing(opts);
  const threads = await runScenario(opts["thread-prefix"]);
  await provider.forceFlush();
  if (opts.capture) {
    await writeFile(opts.capture, JSON.stringify(otlpJSON(memory.getFinishedSpans()), null, 1) + "\n");
    console.error(`wrote ${memory.getFinishedSpans().length} spans to ${opts.capture}`);
  }
  await provider.shutdown();
  if (remote) {
    if (remote.failed > 0) {
      throw new Error(`${remote.failed} spans not exported: ${remote.lastError?.message ?? remote.lastError}`);
    }
    console.error(`exported ${remote.exported} spans`);
  }
  if (opts.expect) {
    await writeFile(opts.expect, JSON.stringify(expectation(threads), null, 2) + "\n");
  }
}

// expectation is what the stream must replay to: per thread, the agent run
// as the graph (one run per turn) and the conversation as the final state.
// The state holds the messages in the GenAI conventions' message format, as
// the spans carry them (see docs/CONVENTIONS.md).
function expectation(threads) {
  return {
    graph_name: AGENT,
    threads: threads.map((t) => ({
      thread_id: t.thread_id,
      runs: t.runs,
      final_state: { messages: t.history.map(semconvMessage) },
    })),
  };
}

// semconvMessage converts an AI SDK model message to the GenAI semantic
// conventions' message shape ({role, parts:[...]}).
function semconvMessage(m) {
  const parts = typeof m.content === "string" ? [{ type: "text", content: m.content }] : m.content.map(semconvPart);
  return { role: m.role, parts };
}

function semconvPart(p) {
  switch (p.type) {
    case "text":
      return { type: "text", content: p.text };
    case "tool-call":
      return { type: "tool_call", id: p.toolCallId, name: p.toolName, arguments: p.input };
    case "tool-result":
      return { type: "tool_call_response", id: p.toolCallId, response: p.output?.value ?? p.output };
    default:
      return p;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
