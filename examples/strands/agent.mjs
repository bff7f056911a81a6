// A Strands Agents TypeScript agent with two tools on a scripted Model
// (no provider, no network), traced by the SDK's own OpenTelemetry tracer
// (GenAI conventions), used to produce real spans for the DashStream exporter.
//
//   node agent.mjs                      export spans over OTLP/HTTP (JSON) to a collector
//   node agent.mjs --capture FILE       write the spans as OTLP JSON to FILE instead
//   node agent.mjs --expect FILE        also write the conversation per thread
//
// One conversation ("trip-1") runs two turns on the same agent. See README.md.

// The latest GenAI conventions: the messages as gen_ai.input.messages /
// gen_ai.output.messages (on gen_ai.client.inference.operation.details span
// events) rather than one event per message.
process.env.OTEL_SEMCONV_STABILITY_OPT_IN ??= "gen_ai_latest_experimental";

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";

import { Agent, Model, tool } from "@strands-agents/sdk";
import { z } from "zod";

const SERVICE_NAME = "dashstream-example-strands";
const DEFAULT_ENDPOINT = "http://127.0.0.1:4318";
const AGENT = "trip_planner";

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
// The scripted model: asked a question it calls get_weather and get_time for
// the city; given both tool results it answers. A Strands Model, streaming
// the events a provider's model streams.

const WEATHER = { Paris: "18°C and cloudy", Berlin: "12°C and raining" };
const TIME = { Paris: "14:05", Berlin: "14:05" };

class ScriptedModel extends Model {
  constructor() {
    super();
    this.config = { modelId: "scripted-strands-1" };
    this.calls = 0;
  }

  updateConfig(config) {
    this.config = { ...this.config, ...config };
  }

  getConfig() {
    return this.config;
  }

  async *stream(messages) {
    this.calls++;
    const last = messages[messages.length - 1];
    const blocks = last?.content ?? [];
    const results = blocks.filter((b) => b.type === "toolResultBlock");
    const promptTokens = JSON.stringify(messages).split(/\s+/).length;
    yield { type: "modelMessageStartEvent", role: "assistant" };
    if (results.length > 0) {
      const text = `Here you go: ${results.map((r) => r.content.map((c) => c.text ?? "").join("")).join("; ")}.`;
      yield { type: "modelContentBlockStartEvent" };
      yield { type: "modelContentBlockDeltaEvent", delta: { type: "textDelta", text } };
      yield { type: "modelContentBlockStopEvent" };
      yield { type: "modelMessageStopEvent", stopReason: "endTurn" };
      yield { type: "modelMetadataEvent", usage: usage(promptTokens, text.split(/\s+/).length) };
      return;
    }
    const question = blocks.map((b) => b.text ?? "").join(" ");
    const city = /in ([A-Z][a-z]+)/.exec(question)?.[1] ?? "Paris";
    for (const name of ["get_weather", "get_time"]) {
      yield {
        type: "modelContentBlockStartEvent",
        start: { type: "toolUseStart", name, toolUseId: `call_${name}_${this.calls}` },
      };
      yield { type: "modelContentBlockDeltaEvent", delta: { type: "toolUseInputDelta", input: JSON.stringify({ city }) } };
      yield { type: "modelContentBlockStopEvent" };
    }
    yield { type: "modelMessageStopEvent", stopReason: "toolUse" };
    yield { type: "modelMetadataEvent", usage: usage(promptTokens, 16) };
  }
}

function usage(input, output) {
  return { inputTokens: input, outputTokens: output, totalTokens: input + output };
}

const tools = [
  tool({
    name: "get_weather",
    description: "Current weather for a city.",
    inputSchema: z.object({ city: z.string() }),
    callback: ({ city }) => `${city}: ${WEATHER[city] ?? "unknown"}`,
  }),
  tool({
    name: "get_time",
    description: "Local time in a city.",
    inputSchema: z.object({ city: z.string() }),
    callback: ({ city }) => `${city} local time ${TIME[city] ?? "unknown"}`,
  }),
];

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
    let t = threads.get(conversation);
    if (!t) {
      // One agent per conversation: it keeps the conversation between turns.
      const agent = new Agent({
        name: AGENT,
        model: new ScriptedModel(),
        tools,
        printer: false,
        traceAttributes: { "gen_ai.conversation.id": conversation },
      });
      t = { thread_id: conversation, agent, runs: [] };
      threads.set(conversation, t);
    }
    const toolCalls = [];
    const before = t.agent.messages.length;
    const result = await t.agent.invoke(question);
    for (const m of t.agent.messages.slice(before)) {
      for (const b of m.content) {
        if (b.type === "toolUseBlock") toolCalls.push(b.name);
      }
    }
    const answer = String(result);
    t.runs.push({ question, status: "ok", tool_calls: toolCalls, answer });
    console.error(`${conversation}: turn ${t.runs.length}: ${answer.trim()}`);
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

// expectation: per conversation the turns and the agent's own messages, in
// the GenAI conventions' message format ({role, parts}) the spans use.
function expectation(threads) {
  return {
    graph_name: AGENT,
    threads: threads.map((t) => ({
      thread_id: t.thread_id,
      runs: t.runs,
      final_state: {
        messages: JSON.parse(JSON.stringify(t.agent.messages.map((m) => ({ role: m.role, parts: m.content.map(semconvPart) })))),
      },
    })),
  };
}

function semconvPart(block) {
  switch (block.type) {
    case "textBlock":
      return { type: "text", content: block.text };
    case "toolUseBlock":
      return { type: "tool_call", name: block.name, id: block.toolUseId, arguments: block.input };
    case "toolResultBlock":
      return { type: "tool_call_response", id: block.toolUseId, response: block.content };
    default:
      return { type: block.type };
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
