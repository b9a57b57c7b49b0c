// Dashboard panels: each runs its queries over the dashboard's range and draws one of time
// series, stat, gauge, bar, table, logs, traces list or heatmap of histogram buckets.

import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { loki, prom, tempo, toSeries, tempoSeries } from '../lib/api.js';
import { formatValue, legendFor } from '../lib/format.js';
import { formatTime, macros, stepFor } from '../lib/time.js';
import { Chart } from './chart.js';
import { LogLines, toLines } from './logs.js';

export const PANEL_TYPES = ['timeseries', 'stat', 'gauge', 'bar', 'table', 'logs', 'traces', 'heatmap'];
const INSTANT = new Set(['gauge', 'bar', 'table']);
const COLOURS = { green: '#2da44e', red: '#d1242f', yellow: '#d4a72c', orange: '#e16f24', blue: '#1f6feb', purple: '#8250df', text: '#1c2430' };

/** The colour of the last threshold step at or below a value. */
export function thresholdColour(value, thresholds, fallback = '#1f6feb') {
  let out = fallback;
  for (const step of thresholds ?? []) {
    if (step.value === null || step.value === undefined || value >= step.value) out = COLOURS[step.color] ?? step.color ?? out;
  }
  return out;
}

/** Runs a panel's queries: [{query, series}|{query, lines}|{query, traces}]. */
async function runPanel(panel, start, end, substitute) {
  const step = stepFor(start, end, Math.max(60, panel.width * 12));
  const m = macros(step, start, end);
  const sub = (text) => substitute(text, m);
  return Promise.all((panel.queries ?? []).filter((q) => (q.expr ?? '').trim()).map(async (q) => {
    const expr = sub(q.expr ?? '');
    const legend = (labels) => legendFor(q.legend, labels);
    if (q.lang === 'traceql') {
      if (panel.type === 'traces' || panel.type === 'table') {
        const body = await tempo.search(expr, start, end, panel.options?.limit ?? 20);
        return { traces: body.traces ?? [] };
      }
      const body = await tempo.metricsRange(expr, start, end, `${step}s`);
      return { series: tempoSeries(body).map((s) => ({ ...s, name: legend(s.labels) })) };
    }
    if (q.lang === 'logql') {
      if (expr.trim().startsWith('{')) {
        const data = await loki.queryRange(expr, start, end, { limit: panel.options?.limit ?? 200 });
        return { lines: toLines(data.result, 'backward') };
      }
      const data = await loki.queryRange(expr, start, end, { step });
      let series = toSeries(data);
      if (INSTANT.has(panel.type)) series = series.map((s) => ({ ...s, points: s.points.slice(-1) }));
      return { series: series.map((s) => ({ ...s, name: legend(s.labels) })) };
    }
    const data = INSTANT.has(panel.type) ? await prom.query(expr, end) : await prom.queryRange(expr, start, end, step);
    return { series: toSeries(data).map((s) => ({ ...s, name: legend(s.labels) })) };
  }));
}

/** One panel in the grid, reporting its state ("loading", "done", "error") to `onState`. */
export function Panel({ panel, start, end, substitute, runs, editing, onEdit, onRemove, onMove, onState, varsKey }) {
  const [state, setState] = useState({ status: 'loading' });
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, status: 'loading' }));
    runPanel(panel, start, end, substitute)
      .then((results) => { if (live) { setState({ status: 'done', results }); onState?.(panel.id, 'done'); } })
      .catch((e) => { if (live) { setState({ status: 'error', error: e.message }); onState?.(panel.id, 'error'); } });
    return () => { live = false; };
  }, [panel, start, end, runs, varsKey]);
  const bodyHeight = panel.height * 30 + (panel.height - 1) * 8 - 44;
  return html`
    <section class="panel" style=${`grid-column: span ${panel.width}; grid-row: span ${panel.height}`}
      data-panel-id=${panel.id} data-panel-type=${panel.type} data-state=${state.status} aria-label=${`Panel ${panel.title}`}>
      <header>
        <span class="title" title=${panel.description || panel.title}>${panel.title}</span>
        ${state.status === 'loading' && html`<span class="muted" aria-label="loading">…</span>`}
        ${editing && html`
          <button class="link" onClick=${() => onMove(-1)} aria-label="Move left">←</button>
          <button class="link" onClick=${() => onMove(1)} aria-label="Move right">→</button>
          <button class="link" onClick=${onEdit}>Edit</button>
          <button class="link danger" onClick=${onRemove}>Remove</button>`}
      </header>
      <div class="content">
        ${state.status === 'error' && html`<p class="error" role="alert">${state.error}</p>`}
        ${state.status === 'done' && html`<${PanelBody} panel=${panel} results=${state.results} height=${bodyHeight} range=${[start, end]} />`}
      </div>
    </section>`;
}

function PanelBody({ panel, results, height, range }) {
  const series = results.flatMap((r) => r.series ?? []);
  const lines = results.flatMap((r) => r.lines ?? []);
  const traces = results.flatMap((r) => r.traces ?? []);
  const o = panel.options ?? {};
  if (!(panel.queries ?? []).some((q) => (q.expr ?? '').trim())) return html`<p class="empty">This panel has no query yet.</p>`;
  if (panel.type === 'logs') return html`<${LogLines} lines=${lines} maxHeight=${height} label=${`${panel.title} lines`} />`;
  if (panel.type === 'traces' || traces.length) return html`<${TraceList} traces=${traces} />`;
  if (!series.length) return html`<p class="empty">No data</p>`;
  switch (panel.type) {
    case 'stat': return html`<${Stat} series=${series} unit=${panel.unit} options=${o} height=${height} />`;
    case 'gauge': return html`<${Gauge} series=${series} unit=${panel.unit} options=${o} height=${height} />`;
    case 'bar': return html`<${Bars} series=${series} unit=${panel.unit} options=${o} />`;
    case 'table': return html`<${Table} series=${series} unit=${panel.unit} />`;
    case 'heatmap': return html`<${Heatmap} series=${series} height=${height} />`;
    default: return html`<${Chart} series=${series} unit=${panel.unit} height=${height} range=${range} fit />`;
  }
}

const last = (s) => { for (let i = s.points.length - 1; i >= 0; i--) if (Number.isFinite(s.points[i][1])) return s.points[i][1]; return NaN; };

function Sparkline({ points, colour }) {
  if (points.length < 2) return null;
  const ts = points.map((p) => p[0]), vs = points.map((p) => p[1]).filter(Number.isFinite);
  const t0 = Math.min(...ts), t1 = Math.max(...ts), v0 = Math.min(...vs), v1 = Math.max(...vs);
  const d = points.filter((p) => Number.isFinite(p[1])).map((p, i) =>
    `${i ? 'L' : 'M'}${(((p[0] - t0) / (t1 - t0 || 1)) * 100).toFixed(1)},${(30 - ((p[1] - v0) / (v1 - v0 || 1)) * 28).toFixed(1)}`).join('');
  return html`<svg viewBox="0 0 100 31" preserveAspectRatio="none" style="width:100%;height:30px"><path d=${d} fill="none" stroke=${colour} stroke-width="1.5" vector-effect="non-scaling-stroke" /></svg>`;
}

function Stat({ series, unit, options, height }) {
  const shown = series.slice(0, 8);
  return html`<div style=${`display:grid;grid-template-columns:repeat(${Math.min(shown.length, 4)},1fr);gap:6px;height:${height}px`}>
    ${shown.map((s) => {
      const v = last(s), colour = thresholdColour(v, options.thresholds, '#1c2430');
      return html`<div class="stat" data-value=${v}>
        <span class="value" style=${`color:${colour}`}>${formatValue(v, unit, options.decimals)}</span>
        ${shown.length > 1 && html`<span class="muted" style="font-size:12px">${s.name}</span>`}
        <${Sparkline} points=${s.points} colour=${colour} />
      </div>`;
    })}</div>`;
}

function Gauge({ series, unit, options, height }) {
  const shown = series.slice(0, 4);
  const svgHeight = Math.max(40, height - (shown.length > 1 ? 20 : 4));
  return html`<div style=${`display:grid;grid-template-columns:repeat(${shown.length},1fr);height:${height}px`}>${shown.map((s) => {
    const v = last(s);
    const min = options.min ?? 0;
    const max = options.max ?? (unit === 'percent' ? 100 : unit === 'percentunit' ? 1 : Math.max(1, Math.abs(v) * 1.25));
    const frac = Math.min(1, Math.max(0, (v - min) / (max - min || 1)));
    const colour = thresholdColour(v, options.thresholds, '#2da44e');
    const arc = (f) => { const a = Math.PI * (1 - f); return [60 + 48 * Math.cos(a), 60 - 48 * Math.sin(a)]; };
    const [x, y] = arc(frac);
    return html`<div class="stat" data-value=${v}><svg viewBox="0 0 120 70" style=${`width:100%;height:${svgHeight}px`}>
      <path d="M12,60 A48,48 0 0 1 108,60" fill="none" stroke="#eef1f5" stroke-width="10" />
      ${frac > 0 && html`<path d=${`M12,60 A48,48 0 0 1 ${x.toFixed(2)},${y.toFixed(2)}`} fill="none" stroke=${colour} stroke-width="10" />`}
      <text x="60" y="58" text-anchor="middle" font-size="15" font-weight="600">${formatValue(v, unit, options.decimals)}</text></svg>
      ${shown.length > 1 && html`<span class="muted" style="font-size:12px">${s.name}</span>`}</div>`;
  })}</div>`;
}

function Bars({ series, unit, options }) {
  const values = series.map((s) => [s.name, last(s)]).sort((a, b) => b[1] - a[1]);
  const max = options.max ?? Math.max(...values.map(([, v]) => v), 0);
  return html`<div class="bars">${values.map(([name, v]) => html`<div class="barrow" data-value=${v}>
    <span title=${name} style="overflow:hidden;text-overflow:ellipsis;white-space:nowrap">${name}</span>
    <div class="track"><div class="fill" style=${`width:${max > 0 ? Math.max(0, (v / max) * 100) : 0}%;background:${thresholdColour(v, options.thresholds)}`}></div></div>
    <span class="mono" style="text-align:right">${formatValue(v, unit, options.decimals)}</span></div>`)}</div>`;
}

function Table({ series, unit }) {
  const keys = [...new Set(series.flatMap((s) => Object.keys(s.labels)))].filter((k) => k !== '__name__').sort();
  return html`<table class="grid"><thead><tr>${keys.map((k) => html`<th>${k}</th>`)}<th class="num">Value</th></tr></thead>
    <tbody>${series.map((s) => html`<tr>${keys.map((k) => html`<td>${s.labels[k] ?? ''}</td>`)}<td class="num">${formatValue(last(s), unit)}</td></tr>`)}</tbody></table>`;
}

function TraceList({ traces }) {
  if (!traces.length) return html`<p class="empty">No traces</p>`;
  return html`<table class="grid"><thead><tr><th>Trace</th><th>Root</th><th>Start</th><th class="num">Duration</th></tr></thead>
    <tbody>${traces.map((t) => html`<tr><td class="mono"><a href=${`/trace/${t.traceID}`}>${t.traceID.slice(0, 16)}</a></td>
      <td>${t.rootServiceName}: ${t.rootTraceName}</td><td>${formatTime(Number(BigInt(t.startTimeUnixNano ?? 0) / 1000000n))}</td>
      <td class="num">${t.durationMs ?? 0} ms</td></tr>`)}</tbody></table>`;
}

const leValue = (le) => (/^\+?inf$/i.test(le) ? Infinity : parseFloat(le));

/** Histogram buckets (series with `le`) to rows of per-bucket counts over time. */
export function heatmapCells(series) {
  const withLe = series.filter((s) => s.labels.le !== undefined);
  if (!withLe.length) return { rows: series.map((s) => s.name), times: [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b), series, cumulative: false };
  const bounds = [...new Set(withLe.map((s) => s.labels.le))].sort((a, b) => leValue(a) - leValue(b));
  const times = [...new Set(withLe.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const sums = bounds.map((le) => {
    const m = new Map();
    for (const s of withLe) if (s.labels.le === le) for (const [t, v] of s.points) m.set(t, (m.get(t) ?? 0) + v);
    return m;
  });
  const rows = bounds.map((le, i) => ({ name: le, points: times.map((t) => [t, Math.max(0, (sums[i].get(t) ?? 0) - (i ? sums[i - 1].get(t) ?? 0 : 0))]) }));
  return { rows: bounds, times, series: rows, cumulative: true };
}

function Heatmap({ series, height }) {
  const ref = useRef(null);
  const cells = heatmapCells(series);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const w = canvas.clientWidth || 400, h = Math.max(60, height - 24);
    canvas.width = w * devicePixelRatio; canvas.height = h * devicePixelRatio;
    const ctx = canvas.getContext('2d');
    ctx.scale(devicePixelRatio, devicePixelRatio);
    const nx = cells.times.length, ny = cells.series.length;
    let max = 0;
    for (const s of cells.series) for (const [, v] of s.points) if (Number.isFinite(v)) max = Math.max(max, v);
    const cw = w / Math.max(1, nx), ch = h / Math.max(1, ny);
    const index = new Map(cells.times.map((t, i) => [t, i]));
    cells.series.forEach((s, y) => {
      for (const [t, v] of s.points) {
        if (!v || !Number.isFinite(v)) continue;
        const f = Math.log1p(v) / Math.log1p(max || 1);
        ctx.fillStyle = `rgba(31,111,235,${(0.12 + 0.88 * f).toFixed(3)})`;
        ctx.fillRect(index.get(t) * cw, h - (y + 1) * ch, Math.ceil(cw), Math.ceil(ch));
      }
    });
  }, [series, height]);
  return html`<div style="display:grid;grid-template-columns:max-content 1fr;gap:4px" data-buckets=${cells.rows.length}>
    <div class="muted" style=${`display:flex;flex-direction:column-reverse;justify-content:space-around;font-size:10px;height:${Math.max(60, height - 24)}px`}>
      ${cells.rows.filter((_, i) => i % Math.ceil(cells.rows.length / 8) === 0).map((r) => html`<span>${typeof r === 'string' ? r : r}</span>`)}</div>
    <canvas ref=${ref} style=${`width:100%;height:${Math.max(60, height - 24)}px`} role="img" aria-label=${`heatmap of ${cells.rows.length} buckets`}></canvas>
  </div>`;
}

