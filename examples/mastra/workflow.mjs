// A Mastra workflow with a conditional branch, traced by Mastra's
// observability with its OpenTelemetry exporter (@mastra/otel-exporter):
// real Mastra workflow spans for the DashStream exporter.
//
//   node workflow.mjs --capture FILE [--expect FILE]   write the spans as OTLP JSON
//   node workflow.mjs [--expect FILE] [--thread-prefix P]
//                                                      export them over OTLP/HTTP (JSON) to
//                                                      $OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4318)
//
// One thread ("trip-1", the runs' resource id and tracing metadata
// threadId) runs the workflow twice: a weather question (branch `weather`)
// and a time question (branch `time`). See README.md.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";

import { Mastra } from "@mastra/core/mastra";
import { createStep, createWorkflow } from "@mastra/core/workflows";
import { Observability } from "@mastra/observability";
import { OtelExporter } from "@mastra/otel-exporter";
import { z } from "zod";

const WORKFLOW = "trip_workflow";
const WEATHER = { Paris: "18°C and cloudy", Berlin: "12°C and raining" };
const TIME = { Paris: "14:05", Berlin: "14:05" };

const parse = createStep({
  id: "parse",
  inputSchema: z.object({ question: z.string() }),
  outputSchema: z.object({ city: z.string(), kind: z.enum(["weather", "time"]) }),
  execute: async ({ inputData }) => ({
    city: /in ([A-Z][a-z]+)/.exec(inputData.question)?.[1] ?? "Paris",
    kind: /time/i.test(inputData.question) ? "time" : "weather",
  }),
});

const weather = createStep({
  id: "weather",
  inputSchema: z.object({ city: z.string(), kind: z.string() }),
  outputSchema: z.object({ report: z.string() }),
  execute: async ({ inputData }) => ({ report: `${inputData.city}: ${WEATHER[inputData.city] ?? "unknown"}` }),
});

const time = createStep({
  id: "time",
  inputSchema: z.object({ city: z.string(), kind: z.string() }),
  outputSchema: z.object({ report: z.string() }),
  execute: async ({ inputData }) => ({ report: `${inputData.city} local time ${TIME[inputData.city] ?? "unknown"}` }),
});

const answer = createStep({
  id: "answer",
  inputSchema: z.object({ weather: z.object({ report: z.string() }).optional(), time: z.object({ report: z.string() }).optional() }),
  outputSchema: z.object({ answer: z.string() }),
  execute: async ({ inputData }) => ({ answer: `Here you go: ${(inputData.weather ?? inputData.time).report}.` }),
});

const workflow = createWorkflow({
  id: WORKFLOW,
  inputSchema: z.object({ question: z.string() }),
  outputSchema: z.object({ answer: z.string() }),
})
  .then(parse)
  .branch([
    [async ({ inputData }) => inputData.kind === "weather", weather],
    [async ({ inputData }) => inputData.kind === "time", time],
  ])
  .then(answer)
  .commit();

// memoryExporter collects what Mastra exports (it flushes on shutdown).
function memoryExporter(finished) {
  return {
    export(spans, done) {
      finished.push(...spans);
      done({ code: 0 });
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

async function main() {
  const opts = parseArgs({
    args: process.argv.slice(2),
    options: { capture: { type: "string" }, expect: { type: "string" }, "thread-prefix": { type: "string", default: "" } },
    strict: true,
  }).values;
  const finished = [];
  const endpoint = `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://127.0.0.1:4318"}/v1/traces`;
  const otel = new OtelExporter(
    opts.capture
      ? { exporter: memoryExporter(finished), batchSize: 1, provider: { custom: { endpoint, protocol: "http/json" } } }
      : { provider: { custom: { endpoint, protocol: "http/json" } } },
  );
  const mastra = new Mastra({
    workflows: { [WORKFLOW]: workflow },
    observability: new Observability({ configs: { otel: { serviceName: "dashstream-example-mastra-workflow", exporters: [otel] } } }),
  });
  const thread = `${opts["thread-prefix"]}trip-1`;
  const runs = [];
  let finalState = null;
  for (const question of ["What is the weather in Paris?", "What time is it in Berlin?"]) {
    const run = await mastra.getWorkflow(WORKFLOW).createRun({ resourceId: thread });
    const result = await run.start({ inputData: { question }, tracingOptions: { metadata: { threadId: thread } } });
    if (result.status !== "success") {
      throw new Error(`run ${runs.length + 1}: ${result.status}: ${result.error ?? ""}`);
    }
    // The workflow's state is the value passed from step to step: its
    // input, each step's output, in the end the workflow's result.
    // result.steps lists the workflow's input as a step "input" first.
    runs.push({ question, status: result.status, steps: Object.keys(result.steps).filter((id) => id !== "input"), result: result.result });
    finalState = result.result;
    console.error(`${thread}: run ${runs.length}: ${result.result.answer}`);
  }
  await mastra.shutdown?.();
  await otel.shutdown?.();
  if (opts.capture) {
    const doc = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(finished)));
    await writeFile(opts.capture, JSON.stringify(doc, null, 1) + "\n");
    console.error(`wrote ${finished.length} spans to ${opts.capture}`);
  }
  if (opts.expect) {
    const expected = { graph_name: WORKFLOW, threads: [{ thread_id: thread, runs, final_state: finalState }] };
    await writeFile(opts.expect, JSON.stringify(expected, null, 2) + "\n");
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
