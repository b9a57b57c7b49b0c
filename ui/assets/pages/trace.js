// One trace: a waterfall of its spans (nested, timed on one axis, services coloured, errors
// marked, collapsible, virtualised) and the selected span's details, with links to its logs.

import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { tempo } from '../lib/api.js';
import { colourOf, nanos } from '../lib/format.js';
import { parseTrace, spanTree } from '../lib/otlp.js';
import { href } from '../lib/router.js';
import { formatTime } from '../lib/time.js';
import { VirtualList } from '../components/vlist.js';

/** The Explore-logs link for a trace (or one span of it) around its time. */
export function logsLink(traceId, start, end, spanId) {
  const filter = spanId ? ` | span_id="${spanId}"` : '';
  return href('/explore/logs', {
    q: `{service_name=~".+"} | trace_id="${traceId}"${filter}`,
    from: String(start - 60_000), to: String(end + 60_000),
  });
}

export function TracePage({ path }) {
  const id = decodeURIComponent(path.slice('/trace/'.length));
  const [state, setState] = useState({ status: 'loading' });
  useEffect(() => {
    tempo.trace(id).then((body) => setState({ status: 'done', spans: parseTrace(body) }))
      .catch((e) => setState({ status: 'error', error: e.status === 404 ? `Trace ${id} was not found.` : e.message }));
  }, [id]);
  if (state.status === 'loading') return html`<p class="loading">Loading trace ${id}…</p>`;
  if (state.status === 'error') return html`<h1>Trace</h1><p class="error" role="alert">${state.error}</p>`;
  return html`<${Trace} id=${id} spans=${state.spans} />`;
}

function Trace({ id, spans }) {
  const tree = useMemo(() => spanTree(spans), [spans]);
  const [collapsed, setCollapsed] = useState(() => new Set());
  const [selected, setSelected] = useState(null);
  const start = useMemo(() => spans.reduce((m, s) => (s.start < m ? s.start : m), spans[0].start), [spans]);
  const end = useMemo(() => spans.reduce((m, s) => (s.end > m ? s.end : m), spans[0].end), [spans]);
  const total = Math.max(1, Number(end - start));
  const visible = useMemo(() => {
    const out = [];
    let hideBelow = Infinity;
    for (const node of tree) {
      if (node.depth > hideBelow) continue;
      hideBelow = collapsed.has(node.span.id) ? node.depth : Infinity;
      out.push(node);
    }
    return out;
  }, [tree, collapsed]);
  const services = useMemo(() => [...new Set(spans.map((s) => s.service))], [spans]);
  const errors = spans.filter((s) => s.status.code === 'error').length;
  const root = tree[0]?.span;
  const toggle = (sid) => setCollapsed((c) => { const n = new Set(c); if (n.has(sid)) n.delete(sid); else n.add(sid); return n; });
  const selectedIndex = visible.findIndex((n) => n.span.id === selected?.id);
  const move = (delta) => {
    const next = visible[Math.min(visible.length - 1, Math.max(0, selectedIndex + delta))];
    if (next) setSelected(next.span);
  };
  useEffect(() => {
    if (selectedIndex >= 0) requestAnimationFrame(() => document.querySelector(`.waterfall [data-index="${selectedIndex}"]`)?.focus());
  }, [selectedIndex]);
  const startMs = Number(start / 1000000n), endMs = Number(end / 1000000n);
  const height = useCallback(() => 24, []);
  const ticks = [0, 0.25, 0.5, 0.75, 1];

  return html`
    <div class="toolbar">
      <h1 class="grow" style="margin:0">${root ? `${root.service}: ${root.name}` : 'Trace'}</h1>
      <a href=${logsLink(id, startMs, endMs)}>Logs for this trace</a>
    </div>
    <div class="card kv" aria-label="Trace summary">
      <span>Trace ID</span><span class="mono">${id}</span>
      <span>Start</span><span>${formatTime(startMs, true)}</span>
      <span>Duration</span><span>${nanos(total)}</span>
      <span>Spans</span><span data-testid="span-count">${spans.length}${errors ? html` · <span class="err-mark">${errors} with errors</span>` : ''}</span>
      <span>Services</span><span class="labels">${services.map((s) => html`<span class="label"><i class="swatch" style=${`background:${colourOf(s)}`}></i>${s}</span>`)}</span>
    </div>
    <div class="card waterfall">
      <div class="axis" aria-hidden="true"><span>Service and span</span>
        <div class="ticks">${ticks.map((t) => html`<span style=${`left:${t * 100}%`}>${nanos(total * t)}</span>`)}</div>
      </div>
      <${VirtualList} count=${visible.length} height=${height} maxHeight=${560} label="Spans" scrollTo=${selectedIndex}
        row=${(i, top) => {
          const { span: s, depth, children } = visible[i];
          const left = (Number(s.start - start) / total) * 100, width = (s.duration / total) * 100;
          const err = s.status.code === 'error';
          return html`<div class="row" role="listitem" key=${s.id} style=${`top:${top}px`} tabindex="0" data-index=${i}
            data-span-id=${s.id} data-parent-id=${s.parent} data-depth=${depth} aria-selected=${selected?.id === s.id ? 'true' : 'false'}
            onClick=${() => setSelected(s)}
            onKeyDown=${(e) => {
              if (e.key === 'ArrowDown') { e.preventDefault(); if (selectedIndex < 0) setSelected(s); else move(1); }
              if (e.key === 'ArrowUp') { e.preventDefault(); move(-1); }
              if (e.key === 'Enter') { e.preventDefault(); setSelected(s); }
              if ((e.key === 'ArrowLeft' && !collapsed.has(s.id)) || (e.key === 'ArrowRight' && collapsed.has(s.id))) { e.preventDefault(); if (children) toggle(s.id); }
            }}>
            <div class="name" style=${`padding-left:${depth * 14}px`}>
              ${children ? html`<button class="toggle" aria-label=${collapsed.has(s.id) ? 'Expand' : 'Collapse'} aria-expanded=${!collapsed.has(s.id)}
                onClick=${(e) => { e.stopPropagation(); toggle(s.id); }}>${collapsed.has(s.id) ? '▸' : '▾'}</button>` : html`<span class="toggle"></span>`}
              <i class="swatch" style=${`background:${colourOf(s.service)}`}></i>
              <span class="svc">${s.service}</span><span>${s.name}</span>
              ${err && html`<span class="err-mark" title="error">!</span>`}
              ${collapsed.has(s.id) && html`<span class="muted">(${children} hidden)</span>`}
            </div>
            <div class="bar-area">
              <div class=${`bar${err ? ' err' : ''}`} style=${`left:${left}%;width:${width}%;background:${colourOf(s.service)}`}></div>
              <span class="dur" style=${left + width > 80 ? `right:${100 - left + 0.5}%` : `left:${left + width + 0.5}%`}>${nanos(s.duration)}</span>
            </div>
          </div>`;
        }} />
    </div>
    ${selected && html`<${SpanDetails} span=${selected} traceStart=${start} traceId=${id} />`}`;
}

function Attributes({ title, list }) {
  if (!list.length) return null;
  return html`<h2>${title}</h2><div class="kv">${list.map(([k, v]) => html`<span>${k}</span><span class="mono">${typeof v === 'object' ? JSON.stringify(v) : String(v)}</span>`)}</div>`;
}

function SpanDetails({ span: s, traceStart, traceId }) {
  const startMs = Number(s.start / 1000000n), endMs = Number(s.end / 1000000n);
  return html`
    <section class="card" aria-label="Span details">
      <div class="toolbar"><h2 class="grow" style="margin:0">${s.service}: ${s.name}</h2>
        <a href=${logsLink(traceId, startMs, endMs, s.id)}>Logs for this span</a></div>
      <div class="kv">
        <span>Span ID</span><span class="mono">${s.id}</span>
        <span>Parent</span><span class="mono">${s.parent || '(root)'}</span>
        <span>Kind</span><span>${s.kind}</span>
        <span>Status</span><span class=${s.status.code === 'error' ? 'err-mark' : ''}>${s.status.code}${s.status.message ? `: ${s.status.message}` : ''}</span>
        <span>Start</span><span>${nanos(Number(s.start - traceStart))} after the trace start</span>
        <span>Duration</span><span>${nanos(s.duration)}</span>
        ${s.scope && html`<span>Scope</span><span>${s.scope}</span>`}
      </div>
      <${Attributes} title="Attributes" list=${s.attributes} />
      <${Attributes} title="Resource" list=${s.resource} />
      ${s.events.length > 0 && html`<h2>Events</h2>
        <table class="grid"><thead><tr><th>At</th><th>Name</th><th>Attributes</th></tr></thead><tbody>
        ${s.events.map((e) => html`<tr><td>${nanos(Number(e.time - s.start))}</td><td>${e.name}</td>
          <td class="mono">${e.attributes.map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ')}</td></tr>`)}
        </tbody></table>`}
      ${s.links.length > 0 && html`<h2>Links</h2>
        <ul>${s.links.map((l) => html`<li><a class="mono" href=${`/trace/${l.traceId}`}>${l.traceId}</a> span <span class="mono">${l.spanId}</span></li>`)}</ul>`}
    </section>`;
}
