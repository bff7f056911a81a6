// The live view of `dashstream serve`. The server decodes and replays the
// topic; this page only fetches what it shows and refreshes on the server's
// "change" events.
'use strict';

const $ = (id) => document.getElementById(id);
const view = { threads: [], selected: '', thread: null, threadVersion: -1, index: -1, live: true, filter: '' };

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

async function getJSON(url) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

// --- thread list ------------------------------------------------------------

async function refreshThreads() {
  const data = await getJSON('api/threads');
  view.threads = data.threads || [];
  $('status').textContent = `topic ${data.topic} · ${data.records} records · ${view.threads.length} threads` +
    (data.undecodable ? ` · ${data.undecodable} undecodable` : '');
  $('status').className = 'status ok';
  renderThreads();
  if (!view.selected && view.threads.length > 0 && !location.hash) select(view.threads[0].id);
  const cur = view.threads.find((t) => t.id === view.selected);
  if (cur && cur.version !== view.threadVersion) await refreshThread();
}

// openAge: how long ago an open run (started, never ended) started.
function openAge(t) {
  const s = Math.round((t.open_for_us || 0) / 1e6);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

function renderThreads() {
  const f = view.filter.toLowerCase();
  const shown = view.threads.filter((t) => !f || t.id.toLowerCase().includes(f) || (t.graph || '').toLowerCase().includes(f));
  $('thread-count').textContent = `(${view.threads.length})`;
  $('threads').innerHTML = shown.map((t) => `
    <li data-thread="${esc(t.id)}" class="${t.id === view.selected ? 'selected' : ''}">
      <div class="id">${esc(t.id)}</div>
      <div class="sub">${esc(t.graph || '—')} <span class="badge ${esc(t.status)}"${t.status === 'open' ? ` title="started ${esc(openAge(t))} ago and never ended"` : ''}>${esc(t.status)}${t.status === 'open' ? ` ${esc(openAge(t))}` : ''}</span>
        ${t.problems ? `<span class="badge problems">${t.problems} problem(s)</span>` : ''}</div>
      <div class="sub">${t.runs} run(s) · ${t.messages} msgs${t.running ? ` · running <b>${esc(t.running)}</b>` : ''}</div>
    </li>`).join('');
}

function select(id) {
  if (view.selected === id) return;
  view.selected = id;
  view.thread = null;
  view.threadVersion = -1;
  view.index = -1;
  view.live = true;
  $('live').checked = true;
  history.replaceState(null, '', '#thread=' + encodeURIComponent(id));
  renderThreads();
  refreshThread();
}

// --- one thread -------------------------------------------------------------

async function refreshThread() {
  if (!view.selected) return;
  let t;
  try {
    t = await getJSON('api/thread?id=' + encodeURIComponent(view.selected));
  } catch {
    return;
  }
  view.thread = t;
  view.threadVersion = t.thread.version;
  $('empty').hidden = true;
  $('detail').hidden = false;
  $('thread-title').textContent = t.thread.id;
  $('thread-status').textContent = t.thread.status === 'open' ? `open ${openAge(t.thread)}` : t.thread.status;
  $('thread-status').className = 'badge ' + t.thread.status;
  $('thread-meta').textContent = `${t.thread.graph || ''} · ${t.thread.runs} run(s) · ${t.thread.messages} messages · last sequence ${t.thread.last_sequence}`;
  const probs = t.problems || [];
  $('problems').hidden = probs.length === 0;
  $('problems').innerHTML = probs.map((p) => `<div>${esc(p)}</div>`).join('');
  renderGraph(t);
  renderTimeline(t);
  const last = t.first_index + t.history.length - 1;
  $('slider').min = t.first_index;
  $('slider').max = Math.max(last, t.first_index);
  if (view.live || view.index < t.first_index) view.index = last;
  $('slider').value = view.index;
  await refreshState();
}

async function refreshState() {
  if (!view.selected || view.index < 0) return;
  let s;
  try {
    s = await getJSON(`api/state?id=${encodeURIComponent(view.selected)}&index=${view.index}`);
  } catch {
    return;
  }
  const e = s.entry;
  $('state-pos').textContent = `after message ${s.index + 1}`;
  $('state-entry').textContent = `seq ${e.sequence} · ${e.kind}${e.node ? ' · ' + e.node : ''}`;
  $('state').textContent = JSON.stringify(s.state, null, 2);
  $('diff').textContent = s.diff ? JSON.stringify(s.diff, null, 2) : '(this message does not change the state)';
  for (const li of $('timeline').children) li.classList.toggle('selected', Number(li.dataset.index) === s.index);
}

function renderTimeline(t) {
  const rows = t.history.slice(-500).map((e) => {
    const d = e.detail || {};
    const bits = [];
    if (d.model) bits.push(`model ${d.model}`);
    if (d.total_tokens) bits.push(`${d.input_tokens ?? '?'}+${d.output_tokens ?? '?'}=${d.total_tokens} tokens`);
    if (d.tool_name) bits.push(`tool ${d.tool_name}`);
    if (d.from && d.to) bits.push(`${d.from} → ${d.to}${d.condition ? ` (${d.condition}: ${d.branch || ''})` : ''}`);
    if (d.duration_us) bits.push(`${(Number(d.duration_us) / 1000).toFixed(1)} ms`);
    if (d.operations) bits.push(`${d.operations} op(s)`);
    if (d.full_state) bits.push('full state');
    if (d.error) bits.push(`error: ${d.error}`);
    if (e.problem) bits.push(`PROBLEM: ${e.problem}`);
    const time = new Date(e.time_us / 1000).toISOString().slice(11, 23);
    return `<li data-index="${e.index}" class="${e.problem ? 'problem' : ''}"><span class="seq">${time}</span>` +
      `<span class="kind">${esc(e.kind)}</span><span>${esc(e.node || '')}</span><span>${esc(bits.join(' · '))}</span></li>`;
  });
  const box = $('timeline');
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  box.innerHTML = rows.join('');
  if (atBottom || view.live) box.scrollTop = box.scrollHeight;
}

// --- graph: layered layout from the entry point -------------------------------

function renderGraph(t) {
  const nodes = t.nodes || [];
  const edges = t.edges || [];
  const svg = $('graph');
  if (nodes.length === 0) {
    svg.innerHTML = '<text x="10" y="20" fill="#8a93a3">no nodes yet</text>';
    return;
  }
  const out = new Map(nodes.map((n) => [n.name, []]));
  for (const e of edges) if (out.has(e.from) && out.has(e.to)) out.get(e.from).push(e.to);
  const entry = t.entry_point && out.has(t.entry_point) ? t.entry_point : (nodes.find((n) => n.entry_point) || nodes[0]).name;
  const layer = new Map([[entry, 0]]);
  const queue = [entry];
  while (queue.length) {
    const n = queue.shift();
    for (const m of out.get(n)) if (!layer.has(m)) { layer.set(m, layer.get(n) + 1); queue.push(m); }
  }
  let maxLayer = Math.max(...layer.values());
  for (const n of nodes) if (!layer.has(n.name)) layer.set(n.name, ++maxLayer);
  const rows = [];
  for (const n of nodes) (rows[layer.get(n.name)] ||= []).push(n);
  const W = 150, H = 44, GX = 30, GY = 46;
  const width = Math.max(...rows.map((r) => (r ? r.length : 0))) * (W + GX) + GX + 180; // room for loop edges and labels
  const pos = new Map();
  rows.forEach((r, y) => r && r.forEach((n, x) => {
    const off = (width - r.length * (W + GX) + GX) / 2;
    pos.set(n.name, { x: off + x * (W + GX), y: 20 + y * (H + GY) });
  }));
  const height = rows.length * (H + GY) + 20;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.style.maxWidth = `${width * 1.25}px`; // small graphs are not blown up
  svg.style.height = `${Math.min(560, Math.max(200, height * 1.25))}px`;
  const parts = ['<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>'];
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2;
    let d, lx, ly;
    if (b.y > a.y) {
      const y2 = b.y;
      d = `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`;
      lx = (x1 + x2) / 2; ly = (y1 + y2) / 2;
    } else {
      // back edge (a loop): around the right side
      const xr = Math.max(a.x, b.x) + W + 12;
      d = `M${a.x + W},${a.y + H / 2} C${xr + 20},${a.y + H / 2} ${xr + 20},${b.y + H / 2} ${b.x + W},${b.y + H / 2}`;
      lx = xr + 4; ly = (a.y + b.y) / 2 + H / 2;
    }
    const cls = `edge${e.taken ? ' taken' : ''}${e.conditional ? ' conditional' : ''}`;
    parts.push(`<path class="${cls}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="${d}" marker-end="url(#arrow)"><title>${esc(e.from)} → ${esc(e.to)}: taken ${e.taken}×</title></path>`);
    if (e.conditional && e.condition) parts.push(`<text class="edge-label" x="${lx}" y="${ly}">${esc(e.condition)}</text>`);
  }
  for (const n of nodes) {
    const p = pos.get(n.name);
    const running = t.thread.running === n.name;
    const cls = `node ${running ? 'running' : n.status || ''}`;
    const dur = n.runs ? `${n.runs}× · last ${n.last_ms.toFixed(1)} ms` : (n.type || 'not run yet');
    parts.push(`<g class="${cls}" data-node="${esc(n.name)}" transform="translate(${p.x},${p.y})"><rect width="${W}" height="${H}"/>` +
      `<text x="8" y="18">${esc(n.name.length > 20 ? n.name.slice(0, 19) + '…' : n.name)}</text><text class="sub" x="8" y="35">${esc(dur)}</text>` +
      `<title>${esc(n.name)} (${esc(n.type || 'node')}): ${n.runs} run(s), total ${n.total_ms.toFixed(1)} ms</title></g>`);
  }
  svg.innerHTML = parts.join('');
}

// --- wiring -------------------------------------------------------------------

$('threads').addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-thread]');
  if (li) select(li.dataset.thread);
});
$('timeline').addEventListener('click', (ev) => {
  const li = ev.target.closest('li[data-index]');
  if (!li) return;
  view.live = false;
  $('live').checked = false;
  view.index = Number(li.dataset.index);
  $('slider').value = view.index;
  refreshState();
});
$('slider').addEventListener('input', () => {
  view.index = Number($('slider').value);
  view.live = view.index === Number($('slider').max);
  $('live').checked = view.live;
  refreshState();
});
$('live').addEventListener('change', () => {
  view.live = $('live').checked;
  if (view.live) refreshThread();
});
$('filter').addEventListener('input', () => { view.filter = $('filter').value; renderThreads(); });

const fromHash = decodeURIComponent((location.hash.match(/thread=([^&]*)/) || [])[1] || '');
if (fromHash) select(fromHash);

let refreshing = false, again = false;
async function onChange() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  try {
    do { again = false; await refreshThreads(); } while (again);
  } catch (e) {
    $('status').textContent = 'error: ' + e.message;
    $('status').className = 'status bad';
  } finally {
    refreshing = false;
  }
}
const events = new EventSource('events');
events.addEventListener('change', onChange);
events.onerror = () => { $('status').textContent = 'disconnected, retrying…'; $('status').className = 'status bad'; };
onChange();
