// Explore logs: a LogQL query as log lines under a volume histogram by level, or as a chart for a
// metric query; live tail over Loki's WebSocket; a line's trace and its context.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { loki, toSeries } from '../lib/api.js';
import { lokiComplete } from '../lib/complete.js';
import { useExplore, useQueryRun } from '../lib/explore.js';
import { legendFor } from '../lib/format.js';
import { navigate, withParams } from '../lib/router.js';
import { stepFor, resolveRange } from '../lib/time.js';
import { Chart, named } from '../components/chart.js';
import { QueryBar } from '../components/querybar.js';
import { LogLines, Volume, toLines, selectorOf } from '../components/logs.js';
import { useAutoRefresh } from '../components/timepicker.js';

const MAX_LINES = 10000;
/** Loki's default `max_entries_limit_per_query`: larger limits are fetched in pages of this size. */
const PAGE = 5000;

/** Up to `limit` lines, fetched in pages of at most PAGE lines each, walking from the range's
 * end (backward) or start (forward); lines on a page boundary's timestamp are not repeated. */
export async function fetchLines(query, start, end, limit, direction) {
  const out = [];
  const seen = new Set();
  let from = BigInt(Math.round(start)) * 1000000n, to = BigInt(Math.round(end)) * 1000000n;
  while (out.length < limit) {
    const want = Math.min(PAGE, limit - out.length);
    const requested = Math.min(PAGE, want + seen.size);
    const data = await loki.queryRange(query, from, to, { limit: requested, direction });
    const raw = toLines(data.result, direction);
    const page = raw.filter((l) => !seen.has(keyOf(l)));
    out.push(...page.slice(0, limit - out.length));
    if (raw.length < requested || page.length === 0) break;
    const edge = page[page.length - 1].ts;
    seen.clear();
    for (const l of page) if (l.ts === edge) seen.add(keyOf(l));
    if (direction === 'backward') to = edge + 1n; else from = edge;
  }
  return out;
}

const keyOf = (l) => `${l.ts}\u0000${l.line}\u0000${JSON.stringify(l.labels)}`;

/** True for a LogQL log query (a selector and pipeline) rather than a metric query. */
export const isLogQuery = (q) => q.trim().startsWith('{');

export function LogsPage({ params }) {
  const x = useExplore(params);
  const direction = params.get('direction') === 'forward' ? 'forward' : 'backward';
  const limit = Number(params.get('limit')) || 1000;
  const complete = useMemo(() => lokiComplete(() => resolveRange(x.range)), [x.range.from, x.range.to]);
  const [context, setContext] = useState(null);
  const [tail, setTail] = useState(null);
  useAutoRefresh(x.refresh, x.rerun);
  const state = useQueryRun(x, [direction, limit], async (r) => {
    const step = stepFor(r.start, r.end, 120);
    const shown = { step, start: r.start, end: r.end };
    if (!isLogQuery(x.q)) {
      const data = await loki.queryRange(x.q, r.start, r.end, { step });
      return { ...shown, series: named(toSeries(data), legendFor, '') };
    }
    const [lines, volume] = await Promise.all([
      fetchLines(x.q, r.start, r.end, limit, direction),
      loki.queryRange(`sum by (level, detected_level) (count_over_time(${x.q} [${step}s]))`, r.start, r.end, { step })
        .catch(() => null),
    ]);
    return { ...shown, lines, volume: volume && toSeries(volume) };
  });

  const lines = tail ? tail.lines : state.lines ?? [];
  return html`
    <h1>Explore logs</h1>
    <${QueryBar} x=${x} label="LogQL query" placeholder='Enter a LogQL query, e.g. {service_name="orders"} |= "error"' complete=${complete}
      error=${state.status === 'error' && state.error}>
      <select aria-label="Order" value=${direction} onChange=${(e) => navigate(withParams({ direction: e.target.value === 'forward' ? 'forward' : null }))}>
        <option value="backward">Newest first</option><option value="forward">Oldest first</option>
      </select>
      <select aria-label="Line limit" value=${limit} onChange=${(e) => navigate(withParams({ limit: e.target.value }))}>
        ${[100, 1000, 5000, 10000].map((n) => html`<option value=${n}>${n} lines</option>`)}
      </select>
      <${TailButton} query=${x.q} tail=${tail} setTail=${setTail} />
    </${QueryBar}>
    <div class="card" aria-busy=${state.status === 'loading'} data-state=${tail ? 'tail' : state.status}>
      ${state.status === 'idle' && !tail && html`<p class="empty">Type a query and press Enter.</p>`}
      ${state.status === 'done' && state.volume && !tail && html`<${Volume} series=${state.volume} start=${state.start} end=${state.end} step=${state.step} />`}
      ${state.status === 'done' && state.series && html`<${Chart} series=${state.series} range=${[state.start, state.end]} />`}
      ${(tail || (state.status === 'done' && state.lines)) && html`
        <p class="muted" data-testid="result-info">${lines.length} lines${tail ? ' · live' : ''}</p>
        <${LogLines} lines=${lines} onContext=${setContext} />`}
    </div>
    ${context && html`<${ContextDialog} line=${context} onClose=${() => setContext(null)} />`}`;
}

function TailButton({ query, tail, setTail }) {
  const socket = useRef(null);
  const stop = () => { socket.current?.close(); socket.current = null; setTail(null); };
  useEffect(() => () => socket.current?.close(), []);
  const start = () => {
    if (!isLogQuery(query)) return;
    const ws = new WebSocket(loki.tailUrl(query, Date.now() - 60_000));
    socket.current = ws;
    setTail({ lines: [], status: 'connecting' });
    ws.onopen = () => setTail((t) => t && { ...t, status: 'open' });
    ws.onmessage = (e) => {
      let body;
      try { body = JSON.parse(e.data); } catch { return; }
      const fresh = toLines(body.streams, 'backward');
      setTail((t) => t && { ...t, lines: [...fresh, ...t.lines].slice(0, MAX_LINES) });
    };
    ws.onclose = () => setTail((t) => t && { ...t, status: 'closed' });
  };
  return tail
    ? html`<button aria-pressed="true" onClick=${stop}>Stop live tail${tail.status === 'closed' ? ' (closed)' : ''}</button>`
    : html`<button onClick=${start} disabled=${!isLogQuery(query)} title="Stream new lines as they arrive">Live tail</button>`;
}

function ContextDialog({ line, onClose }) {
  const ref = useRef(null);
  const [state, setState] = useState({ status: 'loading' });
  useEffect(() => {
    ref.current?.showModal();
    const selector = selectorOf(line.labels);
    const hour = 3600n * 1000000000n;
    Promise.all([
      loki.queryRange(selector, line.ts - hour, line.ts + 1n, { limit: 11, direction: 'backward' }),
      loki.queryRange(selector, line.ts + 1n, line.ts + hour, { limit: 10, direction: 'forward' }),
    ]).then(([before, after]) => setState({
      status: 'done', selector,
      lines: [...toLines(after.result, 'backward'), ...toLines(before.result, 'backward')],
    })).catch((e) => setState({ status: 'error', error: e.message }));
  }, [line]);
  return html`
    <dialog ref=${ref} onClose=${onClose} aria-label="Log context">
      <div class="toolbar"><h2 class="grow" style="margin:0">Context</h2><button onClick=${() => ref.current.close()}>Close</button></div>
      ${state.status === 'loading' && html`<p class="loading">Loading…</p>`}
      ${state.status === 'error' && html`<p class="error">${state.error}</p>`}
      ${state.status === 'done' && html`
        <p class="muted mono">${state.selector}</p>
        <${LogLines} lines=${state.lines.map((l) => (l.ts === line.ts && l.line === line.line ? { ...l, level: l.level } : l))}
          maxHeight=${420} label="Context lines" />`}
    </dialog>`;
}
