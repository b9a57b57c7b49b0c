// Explore metrics: a PromQL query drawn as a chart (exemplars link to their traces) or a table.

import { useMemo } from 'preact/hooks';
import { html } from '../lib/html.js';
import { prom, toSeries } from '../lib/api.js';
import { promComplete } from '../lib/complete.js';
import { useExplore, useQueryRun } from '../lib/explore.js';
import { legendFor, seriesName, formatValue } from '../lib/format.js';
import { navigate, withParams } from '../lib/router.js';
import { stepFor, formatTime } from '../lib/time.js';
import { Chart, named } from '../components/chart.js';
import { QueryBar } from '../components/querybar.js';
import { useAutoRefresh } from '../components/timepicker.js';

export function MetricsPage({ params }) {
  const x = useExplore(params);
  const tab = params.get('tab') || 'graph';
  const complete = useMemo(promComplete, []);
  useAutoRefresh(x.refresh, x.rerun);
  const state = useQueryRun(x, [tab], async (r) => {
    if (tab === 'table') {
      const data = await prom.query(x.q, r.end);
      return { rows: toSeries(data) };
    }
    const step = stepFor(r.start, r.end, 250);
    const [data, exemplars] = await Promise.all([
      prom.queryRange(x.q, r.start, r.end, step),
      prom.exemplars(x.q, r.start, r.end).catch(() => []),
    ]);
    return { series: named(toSeries(data), legendFor, ''), exemplars, step, range: [r.start, r.end] };
  });

  const dots = useMemo(() => (state.exemplars ?? []).flatMap((set) => (set.exemplars ?? []).map((e) => {
    const traceId = e.labels?.trace_id ?? e.labels?.traceID ?? e.labels?.traceId;
    return { t: e.timestamp * 1000, v: Number(e.value), traceId, title: `exemplar: trace ${traceId ?? '?'} · ${formatValue(Number(e.value))}` };
  })).filter((d) => d.traceId), [state.exemplars]);

  return html`
    <h1>Explore metrics</h1>
    <${QueryBar} x=${x} label="PromQL query" placeholder="Enter a PromQL query, e.g. sum by (job) (rate(http_server_request_duration_seconds_count[5m]))" complete=${complete}
      error=${state.status === 'error' && state.error}>
      <div class="tabs" role="group" aria-label="View">
        <button aria-pressed=${tab === 'graph'} onClick=${() => navigate(withParams({ tab: null }))}>Graph</button>
        <button aria-pressed=${tab === 'table'} onClick=${() => navigate(withParams({ tab: 'table' }))}>Table</button>
      </div>
    </${QueryBar}>
    <div class="card" aria-busy=${state.status === 'loading'} data-state=${state.status}>
      ${state.status === 'idle' && html`<p class="empty">Type a query and press Enter.</p>`}
      ${state.status === 'done' && state.series && tab !== 'table' && html`
        <p class="muted" data-testid="result-info">${state.series.length} series · step ${state.step}s · ${dots.length} exemplars · ${state.took} ms</p>
        ${state.series.length ? html`<${Chart} series=${state.series} range=${state.range} dots=${dots} onDot=${(d) => navigate(`/trace/${d.traceId}`)} />`
          : html`<p class="empty">No data in this range.</p>`}
        ${dots.length > 0 && html`<details class="exemplars"><summary>Exemplars (${dots.length}): the dots on the chart; each opens its trace</summary>
          <ul>${dots.slice(0, 200).map((d) => html`<li><a href=${`/trace/${d.traceId}`}>${d.traceId}</a> <span class="muted">${formatTime(d.t)} · ${formatValue(d.v)}</span></li>`)}</ul>
        </details>`}`}
      ${state.status === 'done' && state.rows && tab === 'table' && html`<${ResultTable} rows=${state.rows} />`}
    </div>`;
}

function ResultTable({ rows }) {
  if (!rows.length) return html`<p class="empty">No data at the end of the range.</p>`;
  return html`
    <div class="scroll-x"><table class="grid" aria-label="Query result">
      <thead><tr><th>Series</th><th class="num">Value</th><th>Time</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr>
        <td class="mono">${seriesName(r.labels)}</td><td class="num mono">${r.points[0]?.[1]}</td>
        <td class="muted">${r.points[0] && formatTime(r.points[0][0])}</td></tr>`)}</tbody>
    </table></div>`;
}
