// A Mastra agent with two tools on the AI SDK's mock model (ai/test),
// traced by Mastra's observability with its OpenTelemetry exporter
// (@mastra/otel-exporter, GenAI conventions): a capture of real Mastra spans
// for the DashStream exporter.
//
//   node agent.mjs --capture FILE --expect FILE
//
// One conversation ("trip-1") runs two turns. See README.md.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";

import { Agent } from "@mastra/core/agent";
import { Mastra } from "@mastra/core/mastra";
import { createTool } from "@mastra/core/tools";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { MockLanguageModelV4 } from "ai/test";
import { z } from "zod";

const AGENT = "trip_planner";

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
  get_weather: createTool({
    id: "get_weather",
    description: "Current weather for a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `${city}: ${WEATHER[city] ?? "unknown"}`,
  }),
  get_time: createTool({
    id: "get_time",
    description: "Local time in a city.",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `${city} local time ${TIME[city] ?? "unknown"}`,
  }),
};

// ---------------------------------------------------------------------------
// Runs

async function main() {
  const opts = parseArgs({
    args: process.argv.slice(2),
    options: { capture: { type: "string" }, expect: { type: "string" }, "thread-prefix": { type: "string", default: "" } },
    strict: true,
  }).values;
  // Collects what Mastra exports (an InMemorySpanExporter forgets its spans
  // on shutdown, which is when Mastra flushes).
  const finished = [];
  const memory = {
    export(spans, done) {
      finished.push(...spans);
      done({ code: 0 });
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const otel = new OtelExporter({ exporter: memory, batchSize: 1, provider: { custom: { endpoint: "http://127.0.0.1:4318/v1/traces", protocol: "http/json" } } });
  const mastra = new Mastra({
    agents: {
      [AGENT]: new Agent({ id: AGENT, name: AGENT, instructions: "Answer travel questions with the tools.", model, tools }),
    },
    observability: new Observability({ configs: { otel: { serviceName: "dashstream-example-mastra", exporters: [otel] } } }),
  });
  const agent = mastra.getAgent(AGENT);
  const conversation = `${opts["thread-prefix"]}trip-1`;
  const history = [];
  const runs = [];
  for (const question of ["What is the weather in Paris?", "And in Berlin?"]) {
    history.push({ role: "user", content: question });
    const result = await agent.generate([...history], {
      maxSteps: 4,
      tracingOptions: { metadata: { threadId: conversation } },
    });
    history.push(...result.response.messages);
    runs.push({
      question,
      status: "ok",
      tool_calls: result.steps.flatMap((s) => s.toolCalls.map((c) => c.payload?.toolName ?? c.toolName)),
      answer: result.text,
    });
    console.error(`${conversation}: turn ${runs.length}: ${result.text}`);
  }
  await mastra.shutdown?.();
  await otel.shutdown?.();
  const spans = finished;
  if (opts.capture) {
    const doc = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
    await writeFile(opts.capture, JSON.stringify(doc, null, 1) + "\n");
    console.error(`wrote ${spans.length} spans to ${opts.capture}`);
  }
  if (opts.expect) {
    await writeFile(opts.expect, JSON.stringify({ graph_name: AGENT, threads: [{ thread_id: conversation, runs, history }] }, null, 2) + "\n");
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
