// A Google ADK JS agent (LlmAgent with two function tools) on a scripted
// BaseLlm, run by ADK's InMemoryRunner, whose built-in OpenTelemetry tracing
// produces the spans for the DashStream exporter.
//
//   node agent.mjs                      export spans over OTLP/HTTP (JSON) to a collector
//   node agent.mjs --capture FILE       write the spans as OTLP JSON to FILE instead
//   node agent.mjs --expect FILE        also write the conversation per thread
//
// One session ("trip-1", ADK's gen_ai.conversation.id) runs two turns. See README.md.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";

import { BaseLlm, FunctionTool, InMemoryRunner, LlmAgent } from "@google/adk";
import { z } from "zod";

const SERVICE_NAME = "dashstream-example-google-adk";
const DEFAULT_ENDPOINT = "http://127.0.0.1:4318";
const AGENT = "trip_planner";
const APP = "trips";
const USER = "user-1";

const USAGE = `usage: node agent.mjs [--capture FILE] [--expect FILE] [--thread-prefix P]

  --capture FILE       write the spans as OTLP JSON ({"resourceSpans":[...]}) to FILE
  --expect FILE        write each session's conversation (the state the stream must replay to)
  --thread-prefix P    prefix for the session ids

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
// the city; given both tool results it answers. A real ADK BaseLlm, so ADK
// traces its calls like a Gemini model's.

const WEATHER = { Paris: "18°C and cloudy", Berlin: "12°C and raining" };
const TIME = { Paris: "14:05", Berlin: "14:05" };

class ScriptedLlm extends BaseLlm {
  constructor() {
    super({ model: "scripted-gemini-1" });
    this.calls = 0;
  }

  async *generateContentAsync(llmRequest) {
    this.calls++;
    const contents = llmRequest.contents ?? [];
    const last = contents[contents.length - 1];
    const responses = (last?.parts ?? []).filter((p) => p.functionResponse);
    const promptTokens = JSON.stringify(contents).split(/\s+/).length;
    if (responses.length > 0) {
      const text = `Here you go: ${responses.map((p) => p.functionResponse.response.result).join("; ")}.`;
      yield {
        content: { role: "model", parts: [{ text }] },
        finishReason: "STOP",
        usageMetadata: { promptTokenCount: promptTokens, candidatesTokenCount: text.split(/\s+/).length },
      };
      return;
    }
    const question = (last?.parts ?? []).map((p) => p.text ?? "").join(" ");
    const city = /in ([A-Z][a-z]+)/.exec(question)?.[1] ?? "Paris";
    yield {
      content: {
        role: "model",
        parts: [
          { functionCall: { id: `call_weather_${this.calls}`, name: "get_weather", args: { city } } },
          { functionCall: { id: `call_time_${this.calls}`, name: "get_time", args: { city } } },
        ],
      },
      finishReason: "STOP",
      usageMetadata: { promptTokenCount: promptTokens, candidatesTokenCount: 16 },
    };
  }

  async connect() {
    throw new Error("live connections are not scripted");
  }
}

const getWeather = new FunctionTool({
  name: "get_weather",
  description: "Current weather for a city.",
  parameters: z.object({ city: z.string() }),
  execute: ({ city }) => ({ result: `${city}: ${WEATHER[city] ?? "unknown"}` }),
});

const getTime = new FunctionTool({
  name: "get_time",
  description: "Local time in a city.",
  parameters: z.object({ city: z.string() }),
  execute: ({ city }) => ({ result: `${city} local time ${TIME[city] ?? "unknown"}` }),
});

// ---------------------------------------------------------------------------
// Runs

function scenario(prefix) {
  return [
    { session: `${prefix}trip-1`, question: "What is the weather in Paris?" },
    { session: `${prefix}trip-1`, question: "And in Berlin?" },
  ];
}

async function runScenario(prefix) {
  const agent = new LlmAgent({
    name: AGENT,
    model: new ScriptedLlm(),
    instruction: "Answer travel questions with the tools.",
    tools: [getWeather, getTime],
  });
  const runner = new InMemoryRunner({ agent, appName: APP });
  const threads = new Map();
  for (const { session, question } of scenario(prefix)) {
    if (!threads.has(session)) {
      await runner.sessionService.createSession({ appName: APP, userId: USER, sessionId: session });
      threads.set(session, { thread_id: session, runs: [] });
    }
    const t = threads.get(session);
    const toolCalls = [];
    let answer = "";
    for await (const event of runner.runAsync({
      userId: USER,
      sessionId: session,
      newMessage: { role: "user", parts: [{ text: question }] },
    })) {
      for (const p of event.content?.parts ?? []) {
        if (p.functionCall) toolCalls.push(p.functionCall.name);
        if (p.text) answer = p.text;
      }
    }
    t.runs.push({ question, status: "ok", tool_calls: toolCalls, answer });
    console.error(`${session}: turn ${t.runs.length}: ${answer}`);
  }
  // The conversation is ADK's own session history.
  for (const t of threads.values()) {
    const s = await runner.sessionService.getSession({ appName: APP, userId: USER, sessionId: t.thread_id });
    t.history = s.events.filter((e) => e.content).map((e) => e.content);
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

// expectation: per session the turns and the conversation (ADK's session
// events' contents, Gemini's {role, parts}) as {"messages": [...]}.
function expectation(threads) {
  return {
    graph_name: AGENT,
    threads: threads.map((t) => ({
      thread_id: t.thread_id,
      runs: t.runs,
      final_state: { messages: JSON.parse(JSON.stringify(t.history)) },
    })),
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
