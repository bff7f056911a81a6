// check.mjs decodes DashStream records the way the DashFlow observability UI
// does in the browser, and checks what its page would receive.
//
// The UI decodes each record in a Web Worker with protobufjs and hands the
// decoded message to the page with postMessage. Structured cloning keeps
// only own properties: protobufjs' proto3 defaults live on the prototype, so
// a field left off the wire arrives as undefined. This script reproduces that
// path without the UI's code (frame marker, zstd with fzstd after the UI's
// check that the frame declares its content size, protobufjs,
// structuredClone) and asserts, for every record:
//
//  1. every field the producer's own decoder (Go, protojson) sees arrives in
//     the clone with the same value;
//  2. every field the UI reads whose default value means something is
//     present (DiffOperation op/path/encoding/from, TokenChunk chunk_index/
//     is_final/finish_reason, ToolExecution stage/retry_count/duration_us,
//     Error severity, ExecutionTrace total_duration_ms/total_tokens);
//  3. replaying each thread as the UI does — GRAPH_START replaces the state
//     with initial_state_json or {}, StateDiffs apply full_state or JSON
//     Patch with the UI's op numbering and JSON encoding only — gives states
//     whose canonical SHA-256 (the UI's algorithm) equals state_hash;
//  4. with --require-schema, every GRAPH_START carries a graph_schema_json
//     with nodes, so the UI draws our graph and not its demo.
//
// Usage: node check.mjs --proto dashstream.proto [--require-schema] FILE...
// FILE holds JSON lines {partition, offset, key, value (base64), message
// (the Go decoder's protojson, enum numbers)}, as `dashstream tail
// --records` prints them. Exit status 0 when every check passes.

import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import Long from 'long';
import { decompress } from 'fzstd';

protobuf.util.Long = Long;
protobuf.configure();

const args = process.argv.slice(2);
let protoPath = '';
let requireSchema = false;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--proto') protoPath = args[++i];
  else if (args[i] === '--require-schema') requireSchema = true;
  else files.push(args[i]);
}
if (!protoPath || files.length === 0) {
  console.error('usage: node check.mjs --proto dashstream.proto [--require-schema] FILE...');
  process.exit(2);
}

// Two views of the schema: ours, and the same without `optional` (what a
// consumer built from the original DashStream schema, like the UI, has).
const protoText = readFileSync(protoPath, 'utf8');
const schemas = {
  ours: protobuf.parse(protoText, { keepCase: false }).root,
  original: protobuf.parse(protoText.replace(/\boptional\s+/g, ''), { keepCase: false }).root,
};

const EVENT_GRAPH_START = 1;
const OP = { 0: 'add', 1: 'remove', 2: 'replace', 3: 'move', 4: 'copy', 5: 'test' };

let failures = 0;
let records = 0;
const fail = (where, msg) => {
  failures++;
  if (failures <= 50) console.error(`FAIL ${where}: ${msg}`);
};

// --- value normalisation (what the page sees vs what protojson prints) ----

function isLongLike(v) {
  return v !== null && typeof v === 'object' && typeof v.low === 'number' && typeof v.high === 'number';
}
function longToString(v) {
  const big = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  if (!v.unsigned && v.high < 0) return (big - (1n << 64n)).toString();
  return big.toString();
}

// same compares protojson's value with the clone's, per protojson's rules:
// 64-bit integers as decimal strings, bytes as base64, floats that are not
// finite as strings.
function same(want, got) {
  if (got instanceof Uint8Array) return typeof want === 'string' && Buffer.from(got).toString('base64') === want;
  if (isLongLike(got)) return String(want) === longToString(got);
  if (typeof want === 'string' && typeof got === 'number') {
    if (want === 'NaN') return Number.isNaN(got);
    if (want === 'Infinity') return got === Infinity;
    if (want === '-Infinity') return got === -Infinity;
    return String(got) === want;
  }
  if (typeof want === 'number' && typeof got === 'number') {
    return want === got || Math.fround(want) === Math.fround(got);
  }
  return want === got;
}

// compare walks protojson's object: every field it has must be an own
// property of the clone with the same value.
function compare(want, got, path, where) {
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) {
      fail(where, `${path}: want ${want.length} elements, got ${JSON.stringify(got)?.slice(0, 80)}`);
      return;
    }
    want.forEach((w, i) => compare(w, got[i], `${path}[${i}]`, where));
    return;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object') {
      fail(where, `${path}: want an object, got ${got}`);
      return;
    }
    for (const [k, w] of Object.entries(want)) {
      if (!Object.prototype.hasOwnProperty.call(got, k)) {
        fail(where, `${path}.${k} is missing after structured cloning (want ${JSON.stringify(w).slice(0, 60)})`);
        continue;
      }
      compare(w, got[k], `${path}.${k}`, where);
    }
    return;
  }
  if (!same(want, got)) fail(where, `${path}: want ${JSON.stringify(want)}, got ${String(got)}`);
}

// --- fields the UI reads whose default value is meaningful ---------------

const mustHave = {
  tokenChunk: ['chunkIndex', 'isFinal', 'finishReason'],
  toolExecution: ['stage', 'retryCount', 'durationUs'],
  error: ['severity'],
  executionTrace: ['totalDurationMs', 'totalTokens'],
};

function checkPresence(msg, where) {
  const has = (o, k) => o && Object.prototype.hasOwnProperty.call(o, k);
  for (const [kind, fields] of Object.entries(mustHave)) {
    if (!msg[kind]) continue;
    for (const f of fields) if (!has(msg[kind], f)) fail(where, `${kind}.${f} is not on the wire`);
  }
  for (const [i, op] of (msg.stateDiff?.operations ?? []).entries()) {
    for (const f of ['op', 'path', 'encoding']) if (!has(op, f)) fail(where, `operations[${i}].${f} is not on the wire`);
    if ((op.op === 3 || op.op === 4) && !has(op, 'from')) fail(where, `operations[${i}] (${OP[op.op]}) has no from`);
  }
}

// --- the UI's replay ------------------------------------------------------

function canonical(v, ctx) {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) return 'null';
      if (Math.abs(v) > Number.MAX_SAFE_INTEGER) ctx.unsafe = true;
      return JSON.stringify(v);
    case 'string':
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x) => canonical(x, ctx)).join(',')}]`;
      const parts = [];
      for (const k of Object.keys(v).sort()) {
        if (v[k] === undefined) continue;
        parts.push(`${JSON.stringify(k)}:${canonical(v[k], ctx)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return 'null';
  }
}

function pointer(path) {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`bad JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function getAt(doc, segs) {
  let cur = doc;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object' || !(s in cur)) throw new Error(`no value at /${segs.join('/')}`);
    cur = cur[s];
  }
  return cur;
}

function parentOf(doc, segs) {
  return { parent: getAt(doc, segs.slice(0, -1)), key: segs[segs.length - 1] };
}

function addAt(doc, segs, value) {
  if (segs.length === 0) return value;
  const { parent, key } = parentOf(doc, segs);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw new Error(`bad array index ${key}`);
    parent.splice(i, 0, value);
  } else parent[key] = value;
  return doc;
}

function removeAt(doc, segs) {
  const { parent, key } = parentOf(doc, segs);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw new Error(`bad array index ${key}`);
    return parent.splice(i, 1)[0];
  }
  if (!(key in parent)) throw new Error(`no value at ${key}`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function applyOp(doc, op) {
  // The UI rejects any encoding but JSON (0) and RAW (3); we only send JSON.
  if (op.encoding !== 0) throw new Error(`unsupported value encoding ${op.encoding}`);
  const name = OP[op.op];
  if (!name) throw new Error(`unknown op ${op.op}`);
  const segs = pointer(op.path);
  const value = () => JSON.parse(Buffer.from(op.value).toString('utf8'));
  switch (name) {
    case 'add':
      return addAt(doc, segs, value());
    case 'remove':
      removeAt(doc, segs);
      return doc;
    case 'replace':
      if (segs.length === 0) return value();
      removeAt(doc, segs);
      return addAt(doc, segs, value());
    case 'move': {
      const v = removeAt(doc, pointer(op.from));
      return addAt(doc, segs, v);
    }
    case 'copy':
      return addAt(doc, segs, structuredClone(getAt(doc, pointer(op.from))));
    case 'test':
      if (canonical(getAt(doc, segs), {}) !== canonical(value(), {})) throw new Error(`test failed at ${op.path}`);
      return doc;
  }
  return doc;
}

const threads = new Map(); // thread → {state, applied, verified}

function stringAttr(ev, key) {
  return ev.attributes?.[key]?.stringValue;
}

function replay(msg, where) {
  const header = msg.event?.header ?? msg.stateDiff?.header ?? msg.checkpoint?.header;
  const thread = header?.threadId;
  if (!thread) return;
  let t = threads.get(thread);
  if (!t) threads.set(thread, (t = { state: null, diffs: 0, verified: 0, starts: 0, schemas: 0 }));
  if (msg.event?.eventType === EVENT_GRAPH_START) {
    t.starts++;
    const init = stringAttr(msg.event, 'initial_state_json');
    t.state = init ? JSON.parse(init) : {};
    const schema = stringAttr(msg.event, 'graph_schema_json');
    if (schema) {
      const gs = JSON.parse(schema);
      if (!Array.isArray(gs.nodes) || !Array.isArray(gs.edges) || typeof gs.entry_point !== 'string') {
        fail(where, 'graph_schema_json is not a GraphSchema (nodes, edges, entry_point)');
      } else if (gs.nodes.length > 0) t.schemas++;
    }
    return;
  }
  const sd = msg.stateDiff;
  if (!sd) return;
  t.diffs++;
  try {
    if (sd.fullState && sd.fullState.length > 0) {
      t.state = JSON.parse(Buffer.from(sd.fullState).toString('utf8'));
    } else if (sd.operations && sd.operations.length > 0) {
      if (t.state === null) throw new Error('a patch before any state');
      let doc = structuredClone(t.state);
      for (const op of sd.operations) doc = applyOp(doc, op);
      t.state = doc;
    } else {
      throw new Error('a StateDiff with neither full_state nor operations');
    }
  } catch (e) {
    fail(where, `state diff not applied: ${e.message}`);
    t.state = null;
    return;
  }
  if (sd.stateHash && sd.stateHash.length > 0) {
    const ctx = { unsafe: false };
    const text = canonical(t.state, ctx);
    if (ctx.unsafe) return; // the UI skips verification too
    const sum = createHash('sha256').update(text, 'utf8').digest();
    if (!sum.equals(Buffer.from(sd.stateHash))) fail(where, 'state hash differs from the replayed state');
    else t.verified++;
  }
}

// zstdContentSize reads a zstd frame header's declared content size, or
// null when the frame does not declare one (or is not a zstd frame).
function zstdContentSize(f) {
  if (f.length < 6 || f[0] !== 0x28 || f[1] !== 0xb5 || f[2] !== 0x2f || f[3] !== 0xfd) return null;
  const fhd = f[4];
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3];
  const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
  if (fcsBytes === 0) return null;
  const at = 5 + (single ? 0 : 1) + dictBytes;
  if (f.length < at + fcsBytes) return null;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + f[at + i];
  return fcsBytes === 2 ? size + 256 : size;
}

// --- main -------------------------------------------------------------------

let zstdFrames = 0;

for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  for (const line of lines) {
    const rec = JSON.parse(line);
    records++;
    const where = `${file} p${rec.partition}@${rec.offset}`;
    const bytes = Buffer.from(rec.value, 'base64');
    let body;
    if (bytes[0] === 0x00) body = bytes.subarray(1);
    else if (bytes[0] === 0x01) {
      // The UI's worker rejects a frame that does not declare its content
      // size before decompressing it, then hands it to fzstd.
      const size = zstdContentSize(bytes.subarray(1));
      if (size === null) {
        fail(where, 'zstd frame does not declare its content size (the UI rejects it)');
        continue;
      }
      try {
        body = decompress(bytes.subarray(1));
      } catch (e) {
        fail(where, `fzstd: ${e.message}`);
        continue;
      }
      if (body.length !== size) {
        fail(where, `zstd frame declares ${size} bytes, fzstd produced ${body.length}`);
        continue;
      }
      zstdFrames++;
    } else {
      fail(where, `unknown frame marker ${bytes[0]}`);
      continue;
    }
    for (const [name, root] of Object.entries(schemas)) {
      const Type = root.lookupType('dashstream.v1.DashStreamMessage');
      const clone = structuredClone(Type.decode(body)); // the worker → page hand-off
      compare(rec.message, clone, name, where);
      checkPresence(clone, `${where} (${name})`);
      if (name === 'original') replay(clone, where);
    }
  }
}

let diffs = 0;
let verified = 0;
for (const [thread, t] of threads) {
  diffs += t.diffs;
  verified += t.verified;
  if (requireSchema && t.starts > 0 && t.schemas < t.starts) {
    fail(thread, `${t.starts - t.schemas} of ${t.starts} GRAPH_START(s) carry no graph schema with nodes`);
  }
}
console.log(
  `uiworker: ${records} records (${zstdFrames} zstd frames), ${threads.size} threads, ${diffs} state diffs (${verified} hashes verified): ` +
    `${failures === 0 ? 'all fields arrive' : failures + ' failure(s)'}`,
);
process.exit(failures === 0 ? 0 : 1);
