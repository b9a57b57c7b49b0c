// Explore traces: search by service, span name, duration, status and attributes, or TraceQL;
// the matches as a duration-over-time scatter and a list, each opening its trace.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { tempo } from '../lib/api.js';
import { traceqlComplete } from '../lib/complete.js';
import { useExplore, useQueryRun } from '../lib/explore.js';
import { navigate, withParams } from '../lib/router.js';
import { formatTime } from '../lib/time.js';
import { Chart } from '../components/chart.js';
import { QueryBar } from '../components/querybar.js';

const esc = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** The TraceQL for the search form's fields. */
export function buildTraceQL({ service, name, minDuration, maxDuration, status, attributes }) {
  const terms = [];
  if (service) terms.push(`resource.service.name = "${esc(service)}"`);
  if (name) terms.push(`name = "${esc(name)}"`);
  if (minDuration) terms.push(`duration >= ${minDuration.trim()}`);
  if (maxDuration) terms.push(`duration <= ${maxDuration.trim()}`);
  if (status) terms.push(`status = ${status}`);
  for (const line of (attributes ?? '').split('\n')) {
    const m = /^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const key = /^(resource|span)\./.test(m[1]) ? m[1] : `span.${m[1]}`;
    const raw = m[2].replace(/^"(.*)"$/, '$1');
    terms.push(/^-?\d+(\.\d+)?$/.test(raw) || raw === 'true' || raw === 'false' ? `${key} = ${raw}` : `${key} = "${esc(raw)}"`);
  }
  return `{ ${terms.join(' && ')} }`;
}

export function TracesPage({ params }) {
  const x = useExplore(params, { q: '{ }' });
  const limit = Number(params.get('limit')) || 50;
  const complete = useMemo(traceqlComplete, []);
  const state = useQueryRun(x, [limit], async (r) => {
    const body = await tempo.search(x.q, r.start, r.end, limit);
    return { traces: body.traces ?? [] };
  }, Boolean(params.get('q')));

  return html`
    <h1>Explore traces</h1>
    <${SearchForm} onSearch=${(q) => { x.setDraft(q); navigate(withParams({ q })); x.rerun(); }} />
    <${QueryBar} x=${x} label="TraceQL query" placeholder='{ resource.service.name = "orders" && duration > 100ms }' complete=${complete} showAuto=${false}
      error=${state.status === 'error' && state.error}>
      <select aria-label="Result limit" value=${limit} onChange=${(e) => navigate(withParams({ limit: e.target.value }))}>
        ${[20, 50, 100, 500].map((n) => html`<option value=${n}>${n} traces</option>`)}
      </select>
    </${QueryBar}>
    <div class="card" aria-busy=${state.status === 'loading'} data-state=${state.status}>
      ${state.status === 'idle' && html`<p class="empty">Search, or run a TraceQL query.</p>`}
      ${state.status === 'done' && html`<${TraceResults} traces=${state.traces} />`}
    </div>`;
}

function SearchForm({ onSearch }) {
  const [form, setForm] = useState({ service: '', name: '', minDuration: '', maxDuration: '', status: '', attributes: '' });
  const [services, setServices] = useState([]);
  const [names, setNames] = useState([]);
  useEffect(() => {
    tempo.tagValues('resource.service.name').then((vs) => setServices(vs.map((v) => v.value ?? v))).catch(() => {});
    tempo.tagValues('name').then((vs) => setNames(vs.map((v) => v.value ?? v))).catch(() => {});
  }, []);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  return html`
    <form class="card toolbar" aria-label="Search traces" onSubmit=${(e) => { e.preventDefault(); onSearch(buildTraceQL(form)); }}>
      <select aria-label="Service" value=${form.service} onChange=${set('service')}>
        <option value="">Any service</option>${services.map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <input aria-label="Span name" list="span-names" placeholder="Span name" value=${form.name} onInput=${set('name')} />
      <datalist id="span-names">${names.slice(0, 500).map((n) => html`<option value=${n} />`)}</datalist>
      <input aria-label="Minimum duration" placeholder="min e.g. 100ms" size="10" value=${form.minDuration} onInput=${set('minDuration')} />
      <input aria-label="Maximum duration" placeholder="max e.g. 2s" size="10" value=${form.maxDuration} onInput=${set('maxDuration')} />
      <select aria-label="Status" value=${form.status} onChange=${set('status')}>
        <option value="">Any status</option><option value="error">error</option><option value="ok">ok</option><option value="unset">unset</option>
      </select>
      <textarea aria-label="Attributes" rows="1" placeholder="http.route=/api/orders" value=${form.attributes} onInput=${set('attributes')} />
      <button type="submit" class="primary">Search</button>
    </form>`;
}

function TraceResults({ traces }) {
  if (!traces.length) return html`<p class="empty">No traces match in this range.</p>`;
  const rows = traces.map((t) => ({
    id: t.traceID, start: Number(BigInt(t.startTimeUnixNano ?? 0) / 1000000n), duration: t.durationMs ?? 0,
    service: t.rootServiceName ?? '', name: t.rootTraceName ?? '',
    matched: (t.spanSets ?? [t.spanSet]).reduce((n, s) => n + (s?.matched ?? 0), 0),
    error: (t.spanSets ?? [t.spanSet]).some((s) => s?.spans?.some((sp) => (sp.attributes ?? []).some((a) => a.key === 'status' && a.value?.stringValue === 'error'))),
  })).sort((a, b) => a.start - b.start);
  const scatter = [{
    name: 'Duration (ms)', colour: '#1f6feb', points: rows.map((r) => [r.start, r.duration]),
    meta: rows.map((r) => ({ traceId: r.id })),
  }];
  return html`
    <p class="muted" data-testid="result-info">${rows.length} traces</p>
    <${Chart} series=${scatter} mode="points" unit="ms" height=${200} legend=${false} onDot=${(d) => navigate(`/trace/${d.traceId}`)} />
    <div class="scroll-x"><table class="grid" aria-label="Traces">
      <thead><tr><th>Trace</th><th>Root service</th><th>Root span</th><th>Start</th><th class="num">Duration</th><th class="num">Matched spans</th></tr></thead>
      <tbody>${rows.slice().reverse().map((r) => html`<tr>
        <td class="mono"><a href=${`/trace/${r.id}`}>${r.id.slice(0, 16)}</a></td><td>${r.service}</td><td>${r.name}</td>
        <td>${formatTime(r.start)}</td><td class="num">${r.duration} ms</td><td class="num">${r.matched}</td></tr>`)}</tbody>
    </table></div>`;
}
