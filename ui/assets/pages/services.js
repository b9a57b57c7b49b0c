// The service map (Tempo's service-graph metrics: callers → callees with rate, errors and p95)
// and the APM table (span metrics: RED per service and per operation), all plain PromQL.

import { useEffect, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { prom } from '../lib/api.js';
import { formatValue } from '../lib/format.js';
import { href, navigate, withParams } from '../lib/router.js';
import { resolveRange } from '../lib/time.js';
import { TimePicker, useAutoRefresh } from '../components/timepicker.js';

const SERVER_KINDS = 'span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"';

function byKey(result, keys) {
  const out = new Map();
  for (const r of result) out.set(keys.map((k) => r.metric[k] ?? '').join('\u0000'), Number(r.value[1]));
  return out;
}

/** The PromQL behind the page, for a window such as "300s". */
export function serviceQueries(w) {
  return {
    edgeRate: `sum by (client, server) (rate(traces_service_graph_request_total[${w}]))`,
    edgeFailed: `sum by (client, server) (rate(traces_service_graph_request_failed_total[${w}]))`,
    edgeP95: `histogram_quantile(0.95, sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket[${w}])))`,
    rate: `sum by (service) (rate(traces_spanmetrics_calls_total{${SERVER_KINDS}}[${w}]))`,
    errors: `sum by (service) (rate(traces_spanmetrics_calls_total{${SERVER_KINDS}, status_code="STATUS_CODE_ERROR"}[${w}]))`,
    p95: `histogram_quantile(0.95, sum by (service, le) (rate(traces_spanmetrics_latency_bucket{${SERVER_KINDS}}[${w}])))`,
    opRate: `sum by (service, span_name) (rate(traces_spanmetrics_calls_total{${SERVER_KINDS}}[${w}]))`,
    opErrors: `sum by (service, span_name) (rate(traces_spanmetrics_calls_total{${SERVER_KINDS}, status_code="STATUS_CODE_ERROR"}[${w}]))`,
    opP95: `histogram_quantile(0.95, sum by (service, span_name, le) (rate(traces_spanmetrics_latency_bucket{${SERVER_KINDS}}[${w}])))`,
  };
}

export function ServicesPage({ params }) {
  const range = { from: params.get('from') || 'now-15m', to: params.get('to') || 'now' };
  const refresh = params.get('refresh') ?? '';
  const [runs, setRuns] = useState(0);
  const [state, setState] = useState({ status: 'loading' });
  useAutoRefresh(refresh, () => setRuns((n) => n + 1));

  useEffect(() => {
    const r = resolveRange(range);
    if (r.error) { setState({ status: 'error', error: r.error }); return undefined; }
    let live = true;
    const w = `${Math.max(60, Math.round((r.end - r.start) / 1000))}s`;
    const q = serviceQueries(w);
    const names = Object.keys(q);
    Promise.all(names.map((k) => prom.query(q[k], r.end).then((d) => d.result)))
      .then((results) => {
        if (!live) return;
        const res = Object.fromEntries(names.map((k, i) => [k, results[i]]));
        setState({ status: 'done', ...model(res) });
      })
      .catch((e) => live && setState({ status: 'error', error: e.message }));
    return () => { live = false; };
  }, [range.from, range.to, runs]);

  return html`
    <h1>Services</h1>
    <div class="toolbar">
      <${TimePicker} range=${range} refresh=${refresh} onChange=${({ from, to, refresh: rf }) => navigate(withParams({ from, to, refresh: rf }))}
        onRefresh=${() => setRuns((n) => n + 1)} />
    </div>
    ${state.status === 'loading' && html`<p class="loading">Loading…</p>`}
    ${state.status === 'error' && html`<p class="error" role="alert">${state.error}</p>`}
    ${state.status === 'done' && html`
      <section class="card map" aria-label="Service map" data-state="done">
        <h2 style="margin-top:0">Service map</h2>
        ${state.edges.length ? html`<div class="scroll-x"><${ServiceMap} nodes=${state.nodes} edges=${state.edges} /></div>`
          : html`<p class="empty">No calls between services in this range. The map is drawn from <code>traces_service_graph_request_total</code>.</p>`}
      </section>
      <section class="card" aria-label="Services table">
        <h2 style="margin-top:0">Rate, errors and duration</h2>
        <${ServicesTable} services=${state.services} />
      </section>`}`;
}

function model(res) {
  const edgeFailed = byKey(res.edgeFailed, ['client', 'server']);
  const edgeP95 = byKey(res.edgeP95, ['client', 'server']);
  const edges = res.edgeRate.map((r) => {
    const key = `${r.metric.client ?? ''}\u0000${r.metric.server ?? ''}`;
    const rate = Number(r.value[1]);
    return { client: r.metric.client ?? '', server: r.metric.server ?? '', rate, errorRatio: rate ? (edgeFailed.get(key) ?? 0) / rate : 0, p95: edgeP95.get(key) };
  }).filter((e) => e.client && e.server);
  const errors = byKey(res.errors, ['service']), p95 = byKey(res.p95, ['service']);
  const opErrors = byKey(res.opErrors, ['service', 'span_name']), opP95 = byKey(res.opP95, ['service', 'span_name']);
  const services = new Map();
  for (const r of res.rate) {
    const name = r.metric.service ?? '', rate = Number(r.value[1]);
    services.set(name, { name, rate, errorRatio: rate ? (errors.get(name) ?? 0) / rate : 0, p95: p95.get(name), operations: [] });
  }
  for (const r of res.opRate) {
    const name = r.metric.service ?? '', op = r.metric.span_name ?? '', rate = Number(r.value[1]), key = `${name}\u0000${op}`;
    if (!services.has(name)) services.set(name, { name, rate: 0, errorRatio: 0, operations: [] });
    services.get(name).operations.push({ name: op, rate, errorRatio: rate ? (opErrors.get(key) ?? 0) / rate : 0, p95: opP95.get(key) });
  }
  for (const s of services.values()) s.operations.sort((a, b) => b.rate - a.rate);
  const nodes = [...new Set([...edges.flatMap((e) => [e.client, e.server])])].map((name) => ({ name, stats: services.get(name) }));
  return { edges, nodes, services: [...services.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

/** Columns by the number of calls from the services nobody calls (breadth first, so cycles
 * such as a consumer publishing back to the broker do not stretch the map). */
function layout(nodes, edges) {
  const level = new Map();
  const callers = new Set(edges.filter((e) => e.client !== e.server).map((e) => e.server));
  let frontier = nodes.filter((n) => !callers.has(n.name)).map((n) => n.name);
  if (!frontier.length && nodes.length) frontier = [nodes[0].name];
  frontier.forEach((n) => level.set(n, 0));
  while (frontier.length) {
    const next = [];
    for (const name of frontier) {
      for (const e of edges) {
        if (e.client === name && !level.has(e.server)) { level.set(e.server, level.get(name) + 1); next.push(e.server); }
      }
    }
    frontier = next;
  }
  for (const n of nodes) if (!level.has(n.name)) level.set(n.name, 0);
  const columns = [];
  for (const n of nodes) (columns[level.get(n.name)] ??= []).push(n);
  const pos = new Map();
  columns.forEach((col, x) => col.sort((a, b) => a.name.localeCompare(b.name)).forEach((n, y) => pos.set(n.name, { x, y })));
  return { pos, cols: columns.length, rows: Math.max(1, ...Array.from(columns, (c) => c?.length ?? 0)) };
}

const NODE_W = 140, NODE_H = 46, COL_W = 300, ROW_H = 96;

const bezier = (t, a, b, c, d) => (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d;

/** Each edge's path and a label three quarters along it, labels pushed apart where they collide. */
function placeEdges(edges, xy) {
  const placed = edges.map((e) => {
    const a = xy(e.client), b = xy(e.server);
    let p;
    if (b.x > a.x) {
      const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      p = [[x1, y1], [x1 + 60, y1], [x2 - 60, y2], [x2, y2]];
    } else {
      const x1 = a.x + NODE_W / 2, y1 = a.y + NODE_H, x2 = b.x + NODE_W / 2, y2 = b.y + NODE_H;
      p = [[x1, y1], [x1, y1 + 50], [x2, y2 + 50], [x2, y2]];
    }
    const t = 0.5;
    const label = `${formatValue(e.rate, 'reqps')} · ${formatValue(e.errorRatio, 'percentunit')} err`;
    const p95 = e.p95 !== undefined && Number.isFinite(e.p95) ? `p95 ${formatValue(e.p95, 's')}` : '';
    return {
      e, label, p95, d: `M${p[0][0]},${p[0][1]} C${p[1][0]},${p[1][1]} ${p[2][0]},${p[2][1]} ${p[3][0]},${p[3][1]}`,
      lx: bezier(t, p[0][0], p[1][0], p[2][0], p[3][0]), ly: bezier(t, p[0][1], p[1][1], p[2][1], p[3][1]) - 6,
    };
  });
  const byY = placed.slice().sort((a, b) => a.ly - b.ly);
  for (let i = 1; i < byY.length; i++) {
    for (let j = 0; j < i; j++) {
      if (Math.abs(byY[i].lx - byY[j].lx) < 150 && byY[i].ly - byY[j].ly < 28) byY[i].ly = byY[j].ly + 28;
    }
  }
  return placed;
}

function ServiceMap({ nodes, edges }) {
  const { pos, cols, rows } = layout(nodes, edges);
  const xy = (name) => { const p = pos.get(name); return { x: 20 + p.x * COL_W, y: 20 + p.y * ROW_H }; };
  const W = 40 + (cols - 1) * COL_W + NODE_W, H = 40 + (rows - 1) * ROW_H + NODE_H + (edges.some((e) => pos.get(e.server).x <= pos.get(e.client).x) ? 60 : 0);
  return html`
    <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label=${`${nodes.length} services, ${edges.length} calls`}>
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" fill="#8c9bb0" /></marker></defs>
      ${placeEdges(edges, xy).map(({ e, d, label, p95, lx, ly }) => html`<g class=${`edge${e.errorRatio > 0.05 ? ' err' : ''}`} data-edge=${`${e.client}->${e.server}`}>
          <path d=${d} marker-end="url(#arrow)" />
          <text x=${lx} y=${ly - 12} text-anchor="middle"><tspan x=${lx}>${label}</tspan><tspan x=${lx} dy="13">${p95}</tspan></text>
          <title>${e.client} → ${e.server}: ${label} ${p95}</title></g>`)}
      ${nodes.map((n) => {
        const p = xy(n.name), s = n.stats;
        return html`<a href=${href('/d/lookout-service', { 'var-service': n.name })} aria-label=${`${n.name} dashboard`}>
          <g class=${`node${s && s.errorRatio > 0.05 ? ' err' : ''}`} data-service=${n.name}>
            <rect x=${p.x} y=${p.y} width=${NODE_W} height=${NODE_H} rx="8" />
            <text x=${p.x + NODE_W / 2} y=${p.y + 19} text-anchor="middle" font-weight="600">${n.name}</text>
            <text x=${p.x + NODE_W / 2} y=${p.y + 36} text-anchor="middle" class="muted" fill="#5f6b7a">
              ${s ? `${formatValue(s.rate, 'reqps')} · ${formatValue(s.errorRatio, 'percentunit')} err` : 'no server spans'}</text>
          </g></a>`;
      })}
    </svg>`;
}

const tracesOf = (service, op) => href('/explore/traces', {
  q: `{ resource.service.name = "${service}"${op ? ` && name = "${op.replace(/"/g, '\\"')}"` : ''} }`,
});

function ServicesTable({ services }) {
  const [open, setOpen] = useState(() => new Set());
  if (!services.length) return html`<p class="empty">No span metrics in this range (<code>traces_spanmetrics_calls_total</code>).</p>`;
  const toggle = (n) => setOpen((s) => { const c = new Set(s); if (c.has(n)) c.delete(n); else c.add(n); return c; });
  const cells = (x) => html`<td class="num">${formatValue(x.rate, 'reqps')}</td><td class="num">${formatValue(x.errorRatio, 'percentunit')}</td>
    <td class="num">${x.p95 !== undefined && Number.isFinite(x.p95) ? formatValue(x.p95, 's') : '–'}</td>`;
  return html`<div class="scroll-x"><table class="grid" aria-label="Services">
    <thead><tr><th>Service / operation</th><th class="num">Rate</th><th class="num">Errors</th><th class="num">p95</th><th>Links</th></tr></thead>
    <tbody>${services.map((s) => html`
      <tr data-service=${s.name}><td><button class="toggle link" aria-expanded=${open.has(s.name)} onClick=${() => toggle(s.name)}>
        ${open.has(s.name) ? '▾' : '▸'}</button> <b>${s.name}</b></td>${cells(s)}
        <td><a href=${tracesOf(s.name)}>Traces</a> · <a href=${href('/d/lookout-service', { 'var-service': s.name })}>Dashboard</a></td></tr>
      ${open.has(s.name) && s.operations.map((o) => html`<tr data-operation=${o.name}><td style="padding-left:32px">${o.name}</td>${cells(o)}
        <td><a href=${tracesOf(s.name, o.name)}>Traces</a></td></tr>`)}`)}
    </tbody></table></div>`;
}
