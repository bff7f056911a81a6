// A small LangGraph.js graph traced with OpenInference, used to produce real
// OpenInference spans for the DashStream exporter.
//
//   node graph.mjs                      export spans over OTLP/HTTP (JSON) to a collector
//   node graph.mjs --capture FILE       write the spans as OTLP JSON to FILE instead
//   node graph.mjs --expect FILE        also write LangGraph's own final state per thread
//
// See README.md for the graph, the flags and what the spans look like.

import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { trace } from "@opentelemetry/api";
import { ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { LangChainInstrumentation } from "@arizeai/openinference-instrumentation-langchain";
import { LangChainInstrumentation as TraceloopLangChainInstrumentation } from "@traceloop/instrumentation-langchain";
import { CallbackHandler as LangfuseCallbackHandler } from "@langfuse/langchain";
import * as CallbackManagerModule from "@langchain/core/callbacks/manager";

import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import {
  Annotation,
  END,
  MemorySaver,
  MessagesAnnotation,
  START,
  StateGraph,
} from "@langchain/langgraph";
import { z } from "zod";

const SERVICE_NAME = "dashstream-example-langgraphjs";
const DEFAULT_ENDPOINT = "http://127.0.0.1:4318";

// ---------------------------------------------------------------------------
// Command line

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      capture: { type: "string" },
      expect: { type: "string" },
      "thread-prefix": { type: "string", default: "" },
      instrumentation: { type: "string", default: "openinference" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  return values;
}

const USAGE = `usage: node graph.mjs [--capture FILE] [--expect FILE] [--thread-prefix P]

  --capture FILE       write the spans as OTLP JSON ({"resourceSpans":[...]}) to FILE
                       instead of exporting them
  --expect FILE        write LangGraph's final state and node executions per thread to FILE
  --thread-prefix P    prefix for the thread ids (default none; use a unique one per
                       end-to-end test run so threads do not collide in Kafka)
  --instrumentation I  openinference (default), openllmetry
                       (@traceloop/instrumentation-langchain) or langfuse (the Langfuse
                       SDK's @langfuse/langchain CallbackHandler, spans through this
                       program's standard OTLP exporter)

Without --capture the spans go over OTLP/HTTP (JSON) to $OTEL_EXPORTER_OTLP_ENDPOINT
(default ${DEFAULT_ENDPOINT}), path /v1/traces.`;

// ---------------------------------------------------------------------------
// Tracing

// setupTracing registers the provider before any graph runs: the OpenInference
// handler is attached to LangChain's callback manager, so every LangChain run
// (graph, node, router, LLM, tool) becomes a span.
function setupTracing({ capture, instrumentation }) {
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
  switch (instrumentation) {
    case "openinference":
      new LangChainInstrumentation({ tracerProvider: provider }).manuallyInstrument(CallbackManagerModule);
      break;
    case "openllmetry":
      wrapInvocation = true;
      new TraceloopLangChainInstrumentation({ tracerProvider: provider }).manuallyInstrument({
        callbackManagerModule: CallbackManagerModule,
      });
      break;
    case "langfuse":
      // @langfuse/tracing starts its spans on the global tracer provider
      // registered above; no Langfuse server or key is involved.
      langfuseCallbacks = true;
      break;
    default:
      throw new Error(`unknown --instrumentation ${instrumentation}: want openinference, openllmetry or langfuse`);
  }
  return { provider, memory, remote };
}

// ReportingExporter counts what the wrapped exporter delivered and what it
// failed to deliver: the batch processor only logs export failures through
// the OTel diag logger, and an end-to-end test must not pass on lost spans.
class ReportingExporter {
  constructor(inner) {
    this.inner = inner;
    this.exported = 0;
    this.failed = 0;
    this.lastError = null;
  }

  export(spans, resultCallback) {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.exported += spans.length;
      } else {
        this.failed += spans.length;
        this.lastError = result.error ?? new Error("export failed");
      }
      resultCallback(result);
    });
  }

  forceFlush() {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  shutdown() {
    return this.inner.shutdown();
  }
}

// otlpJSON serialises finished spans exactly as the OTLP/HTTP JSON exporter
// would send them: hex ids, nanosecond times as strings.
function otlpJSON(spans) {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  return JSON.parse(new TextDecoder().decode(bytes));
}

// ---------------------------------------------------------------------------
// Models and tool

// ScriptedChatModel is a deterministic stand-in for a tool-calling chat model:
// asked a question it calls get_weather, given a tool result it answers. It is a
// real LangChain chat model, so its runs are ordinary LLM spans with a model
// name, token usage and finish reason, like a provider model's.
class ScriptedChatModel extends BaseChatModel {
  static lc_name() {
    return "ScriptedChatModel";
  }

  constructor(fields = {}) {
    super(fields);
    this.modelName = fields.modelName ?? "scripted-chat-1";
    this.boundTools = fields.boundTools ?? [];
  }

  _llmType() {
    return "scripted";
  }

  invocationParams() {
    return {
      model_name: this.modelName,
      temperature: 0,
      tools: this.boundTools.map((t) => ({ type: "function", function: { name: t.name, description: t.description } })),
    };
  }

  bindTools(tools) {
    return new ScriptedChatModel({ modelName: this.modelName, boundTools: tools });
  }

  async _generate(messages) {
    const last = messages[messages.length - 1];
    const promptTokens = messages.reduce((n, m) => n + String(m.content).split(/\s+/).length, 0);
    let message;
    if (ToolMessage.isInstance(last)) {
      const text = last.status === "error"
        ? `I could not get the weather: ${last.content}`
        : `Here is the weather: ${last.content}.`;
      message = new AIMessage({ content: text });
    } else {
      const city = /in ([A-Z][a-z]+)/.exec(String(last.content))?.[1] ?? "Paris";
      message = new AIMessage({
        content: "",
        tool_calls: [{ id: `call_${city.toLowerCase()}_${messages.length}`, name: "get_weather", args: { city }, type: "tool_call" }],
      });
    }
    const completionTokens = Math.max(1, String(message.content).split(/\s+/).length + message.tool_calls.length * 8);
    message.usage_metadata = {
      input_tokens: promptTokens,
      output_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    message.response_metadata = {
      model_name: this.modelName,
      finish_reason: message.tool_calls.length > 0 ? "tool_calls" : "stop",
    };
    return { generations: [{ text: String(message.content), message }] };
  }
}

const WEATHER = { Paris: "18°C and cloudy", Berlin: "12°C and raining", Rome: "24°C and sunny" };

const getWeather = tool(
  async ({ city }) => {
    const report = WEATHER[city];
    if (report === undefined) {
      throw new Error(`no weather station for ${city}`);
    }
    return `${city}: ${report}`;
  },
  {
    name: "get_weather",
    description: "Current weather for a city.",
    schema: z.object({ city: z.string().describe("City name") }),
  },
);

// ---------------------------------------------------------------------------
// Graph

const State = Annotation.Root({
  ...MessagesAnnotation.spec,
  // counter counts node executions across all runs of the thread; nodes return
  // increments, the reducer adds them (so a node's output is not the new value).
  counter: Annotation({ reducer: (a, b) => a + b, default: () => 0 }),
  // route is a plain last-value channel: the intent chosen by `intake`, then "done".
  route: Annotation(),
  // questions collects every question asked in the thread (concat reducer).
  questions: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

// buildGraph returns the compiled graph and the log that nodes and the router
// append to: LangGraph's own record of what ran, independent of the spans.
function buildGraph() {
  const log = [];
  const record = (config, entry) => {
    log.push({
      thread_id: config.configurable?.thread_id,
      step: config.metadata?.langgraph_step,
      ...entry,
    });
  };

  // node wraps a node function so that each attempt (ok or error) is recorded.
  const node = (name, fn) => {
    const wrapped = async (state, config) => {
      const attempt = config.executionInfo?.nodeAttempt ?? 1;
      try {
        const update = await fn(state, config, attempt);
        record(config, { kind: "node", node: name, attempt, status: "ok" });
        return update;
      } catch (err) {
        record(config, { kind: "node", node: name, attempt, status: "error", error: String(err.message ?? err) });
        throw err;
      }
    };
    Object.defineProperty(wrapped, "name", { value: name });
    return wrapped;
  };

  const agentModel = new ScriptedChatModel().bindTools([getWeather]);
  const writer = new FakeListChatModel({
    responses: ["Summary: answered the weather question.", "Summary: answered the follow-up."],
  });

  // intake classifies the question. Its first attempt in a thread's first run
  // fails like a flaky upstream call; the retry policy runs it again.
  const intake = node("intake", async (state, config, attempt) => {
    if (state.counter === 0 && attempt === 1) {
      throw new Error("intent service unavailable (transient)");
    }
    const question = String(state.messages[state.messages.length - 1].content);
    return { counter: 1, route: /weather/i.test(question) ? "weather" : "smalltalk" };
  });

  const agent = node("agent", async (state, config) => {
    const reply = await agentModel.invoke(state.messages, config);
    return { messages: [reply], counter: 1 };
  });

  // tools runs the tool calls of the last AI message. A failing tool becomes an
  // error ToolMessage (the tool span itself still records the error).
  const tools = node("tools", async (state, config) => {
    const last = state.messages[state.messages.length - 1];
    const results = [];
    for (const call of last.tool_calls ?? []) {
      try {
        results.push(await getWeather.invoke(call, config));
      } catch (err) {
        results.push(new ToolMessage({ content: String(err.message ?? err), tool_call_id: call.id, name: call.name, status: "error" }));
      }
    }
    return { messages: results, counter: 1 };
  });

  // respond writes the final answer; it refuses to answer from a failed tool
  // call, which fails the run (no retry policy on this node).
  const respond = node("respond", async (state, config) => {
    const failed = state.messages.some((m) => ToolMessage.isInstance(m) && m.status === "error");
    if (failed) {
      throw new Error("cannot answer: a tool call failed");
    }
    const summary = await writer.invoke(state.messages, config);
    return { messages: [summary], counter: 1, route: "done" };
  });

  // remember runs in parallel with `agent` (same step) and records the
  // question; it writes only channels `agent` does not write.
  const remember = node("remember", async (state) => {
    const question = String(state.messages[state.messages.length - 1].content);
    return { questions: [question], counter: 1 };
  });

  const routeAfterAgent = (state, config) => {
    const last = state.messages[state.messages.length - 1];
    const to = last.tool_calls?.length ? "tools" : "respond";
    record(config, { kind: "route", node: "agent", to });
    return to;
  };

  const graph = new StateGraph(State)
    .addNode("intake", intake, {
      retryPolicy: { maxAttempts: 2, initialInterval: 20, jitter: false, logWarning: false },
    })
    .addNode("agent", agent)
    .addNode("tools", tools)
    .addNode("respond", respond)
    .addNode("remember", remember)
    .addEdge(START, "intake")
    .addEdge("intake", "agent")
    .addEdge("intake", "remember")
    .addEdge("remember", END)
    .addConditionalEdges("agent", routeAfterAgent, ["tools", "respond"])
    .addEdge("tools", "agent")
    .addEdge("respond", END)
    .compile({ checkpointer: new MemorySaver(), name: "weather_agent" });

  return { graph, log };
}

// ---------------------------------------------------------------------------
// Runs

// The scenario: thread "weather-1" runs twice (the second run starts from the
// state the first left, and its first intake attempt succeeds), thread
// "weather-2" runs once and fails in `respond` after a tool error. `fails`
// is the intended outcome; any other outcome is a broken example.
function scenario(prefix) {
  return [
    { thread_id: `${prefix}weather-1`, question: "What is the weather in Paris?", fails: false },
    { thread_id: `${prefix}weather-1`, question: "And what is the weather in Berlin?", fails: false },
    { thread_id: `${prefix}weather-2`, question: "What is the weather in Atlantis?", fails: true },
  ];
}

// toJSONValue gives the JSON that JSON.stringify produces, which is also how the
// OpenInference instrumentation serialises inputs and outputs (LangChain
// messages become {"lc":1,"type":"constructor","id":[...],"kwargs":{...}}).
function toJSONValue(v) {
  return JSON.parse(JSON.stringify(v));
}

// invoke runs the graph. With OpenLLMetry it runs inside a span of the
// application's (as Traceloop's withWorkflow does): the instrumentation
// starts every LangChain run as a root span otherwise, so a graph's spans
// would not even share a trace. The span carries the thread the way
// Traceloop's association properties do.
// With the Langfuse SDK, its CallbackHandler is passed per invocation, as its
// documentation shows; LangGraph hands it every run below the graph.
let wrapInvocation = false;
let langfuseCallbacks = false;
async function invoke(graph, input, config) {
  if (langfuseCallbacks) {
    return graph.invoke(input, { ...config, callbacks: [new LangfuseCallbackHandler()] });
  }
  if (!wrapInvocation) {
    return graph.invoke(input, config);
  }
  const tracer = trace.getTracer("dashstream-example-langgraphjs");
  return tracer.startActiveSpan(
    "weather_agent.workflow",
    {
      attributes: {
        "traceloop.span.kind": "workflow",
        "traceloop.entity.name": "weather_agent",
        "traceloop.workflow.name": "weather_agent",
        "traceloop.association.properties.thread_id": config.configurable.thread_id,
      },
    },
    async (span) => {
      try {
        return await graph.invoke(input, config);
      } catch (err) {
        span.setStatus({ code: 2, message: String(err.message ?? err) });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

async function runScenario(graph, log, prefix) {
  const threads = new Map();
  const surprises = [];
  for (const { thread_id, question, fails } of scenario(prefix)) {
    const config = { configurable: { thread_id } };
    const input = { messages: [new HumanMessage(question)] };
    const start = log.length;
    let error = null;
    try {
      await invoke(graph, input, config);
    } catch (err) {
      error = String(err.message ?? err);
    }
    if (!threads.has(thread_id)) {
      threads.set(thread_id, { thread_id, runs: [] });
    }
    const after = await graph.getState(config);
    threads.get(thread_id).runs.push({
      input: toJSONValue(input),
      status: error === null ? "ok" : "error",
      ...(error === null ? {} : { error }),
      executions: log.slice(start).map(({ thread_id: _t, ...rest }) => rest),
      state_after: toJSONValue(after.values),
    });
    const n = threads.get(thread_id).runs.length;
    console.error(`${thread_id}: run ${n} ${error === null ? "ok" : `failed: ${error}`}`);
    if ((error !== null) !== fails) {
      surprises.push(`${thread_id} run ${n} ${fails ? "should have failed" : `failed: ${error}`}`);
    }
  }
  if (surprises.length > 0) {
    throw new Error(`the scenario did not run as designed: ${surprises.join("; ")}`);
  }
  for (const t of threads.values()) {
    const snapshot = await graph.getState({ configurable: { thread_id: t.thread_id } });
    t.final_state = toJSONValue(snapshot.values);
    if (langfuseCallbacks) {
      // The Langfuse handler writes a state whose `messages` are LangChain
      // messages as those messages alone, in its own chat form, and drops
      // the other channels: what its spans can tell of the state is the
      // messages, converted by the handler's own extractChatMessageContent.
      const handler = new LangfuseCallbackHandler();
      t.langgraph_state = t.final_state;
      t.final_state = toJSONValue({ messages: snapshot.values.messages.map((m) => handler.extractChatMessageContent(m)) });
    }
  }
  return [...threads.values()];
}

async function main() {
  const opts = parseCommandLine(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const { provider, memory, remote } = setupTracing(opts);
  const { graph, log } = buildGraph();
  const threads = await runScenario(graph, log, opts["thread-prefix"]);

  // The batch processor rejects forceFlush with the exporter's errors; they
  // are reported below with the span counts.
  let flushError = null;
  try {
    await provider.forceFlush();
  } catch (err) {
    flushError = err;
  }
  if (memory) {
    const spans = memory.getFinishedSpans();
    await writeFile(opts.capture, JSON.stringify(otlpJSON(spans), null, 2) + "\n");
    console.error(`wrote ${spans.length} spans to ${opts.capture}`);
  }
  await provider.shutdown().catch((err) => {
    flushError ??= err;
  });
  trace.disable();
  if (remote) {
    const target = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${process.env.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`;
    if (remote.failed > 0 || flushError !== null) {
      const cause = errorText(remote.lastError ?? flushError);
      throw new Error(`exported ${remote.exported} spans to ${target}, failed to export ${remote.failed}: ${cause}`);
    }
    console.error(`exported ${remote.exported} spans to ${target}`);
  }

  if (opts.expect) {
    const expected = { graph_name: "weather_agent", threads };
    await writeFile(opts.expect, JSON.stringify(expected, null, 2) + "\n");
    console.error(`wrote expected state of ${threads.length} threads to ${opts.expect}`);
  }
}

// errorText flattens an error, or the array of errors the batch processor
// rejects with, into one line.
function errorText(err) {
  if (Array.isArray(err)) {
    return err.map(errorText).join("; ");
  }
  return String(err?.message ?? err);
}

main().catch((err) => {
  if (String(err?.code).startsWith("ERR_PARSE_ARGS")) {
    console.error(`graph.mjs: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error(`graph.mjs: ${errorText(err)}`);
  if (err?.stack && !Array.isArray(err) && process.env.DEBUG) {
    console.error(err.stack);
  }
  process.exitCode = 1;
});
