// Alerts: every rule group with each rule's state, health, last evaluation and error, and the
// pending and firing alerts with their labels and annotations; each rule links to its query.

import { useEffect, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { prom } from '../lib/api.js';
import { href, navigate, withParams } from '../lib/router.js';
import { useAutoRefresh } from '../components/timepicker.js';

const ago = (iso) => {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return 'never';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
};

/** The Explore link running a rule's expression in its own language. */
export function queryLink(expr, source) {
  return href(source === 'logql' ? '/explore/logs' : '/explore/metrics', { q: expr, from: 'now-1h' });
}

function Labels({ labels }) {
  return html`<span class="labels">${Object.entries(labels ?? {}).map(([k, v]) => html`<span class="label">${k}="${v}"</span>`)}</span>`;
}

export function AlertsPage({ params }) {
  const show = params.get('state') || 'all';
  const [state, setState] = useState({ status: 'loading' });
  const [runs, setRuns] = useState(0);
  useAutoRefresh('10s', () => setRuns((n) => n + 1));
  useEffect(() => {
    let live = true;
    Promise.all([prom.rules(), prom.alerts()])
      .then(([rules, alerts]) => live && setState({ status: 'done', groups: rules.groups ?? [], alerts: alerts.alerts ?? [] }))
      .catch((e) => live && setState({ status: 'error', error: e.message }));
    return () => { live = false; };
  }, [runs]);

  if (state.status === 'loading') return html`<h1>Alerts</h1><p class="loading">Loading…</p>`;
  if (state.status === 'error') return html`<h1>Alerts</h1><p class="error" role="alert">${state.error}</p>`;
  const counts = { firing: 0, pending: 0, inactive: 0 };
  for (const g of state.groups) for (const r of g.rules) if (r.type === 'alerting') counts[r.state] = (counts[r.state] ?? 0) + 1;
  const active = state.alerts.filter((a) => show === 'all' || a.state === show);
  return html`
    <h1>Alerts</h1>
    <div class="toolbar" role="group" aria-label="Filter by state">
      ${['all', 'firing', 'pending', 'inactive'].map((s) => html`<button aria-pressed=${show === s}
        onClick=${() => navigate(withParams({ state: s === 'all' ? null : s }))}>${s}${s !== 'all' ? ` (${counts[s] ?? 0})` : ''}</button>`)}
      <span class="grow"></span><button onClick=${() => setRuns((n) => n + 1)} aria-label="Refresh">↻</button>
    </div>
    <section class="card" aria-label="Active alerts">
      <h2 style="margin-top:0">Pending and firing alerts</h2>
      ${active.length ? html`<div class="scroll-x"><table class="grid">
        <thead><tr><th>State</th><th>Alert</th><th>Labels</th><th>Annotations</th><th>Active since</th><th class="num">Value</th></tr></thead>
        <tbody>${active.map((a) => html`<tr data-alert=${a.labels?.alertname} data-state=${a.state}>
          <td><span class=${`pill ${a.state}`}>${a.state}</span></td><td><b>${a.labels?.alertname}</b></td>
          <td><${Labels} labels=${a.labels} /></td>
          <td>${Object.entries(a.annotations ?? {}).map(([k, v]) => html`<div><span class="muted">${k}:</span> ${v}</div>`)}</td>
          <td>${ago(a.activeAt)}</td><td class="num mono">${a.value}</td></tr>`)}</tbody></table></div>`
        : html`<p class="empty">No ${show === 'all' ? 'pending or firing' : show} alerts.</p>`}
    </section>
    ${state.groups.length === 0 && html`<p class="empty">No rules are loaded. Give Lookout rule files with <code>--rules.path</code>.</p>`}
    ${state.groups.map((g) => html`
      <section class="card" aria-label=${`Rule group ${g.name}`}>
        <h2 style="margin-top:0">${g.name} <small class="muted">${g.file} · every ${g.interval}s · ${g.source ?? 'promql'} · evaluated ${ago(g.lastEvaluation)}</small></h2>
        <div class="scroll-x"><table class="grid">
          <thead><tr><th>Rule</th><th>State</th><th>Health</th><th>Query</th><th>Last evaluation</th><th class="num">Took</th></tr></thead>
          <tbody>${g.rules.filter((r) => show === 'all' || r.state === show).map((r) => html`<tr data-rule=${r.name}>
            <td><b>${r.name}</b> <small class="muted">${r.type}</small>${r.labels && Object.keys(r.labels).length ? html`<div><${Labels} labels=${r.labels} /></div>` : ''}</td>
            <td>${r.type === 'alerting' ? html`<span class=${`pill ${r.state}`}>${r.state}</span>` : '–'}</td>
            <td><span class=${`pill ${r.health === 'ok' ? 'ok' : r.health === 'err' ? 'err' : 'unknown'}`}>${r.health}</span>
              ${r.lastError && html`<div class="error">${r.lastError}</div>`}</td>
            <td class="mono"><a href=${queryLink(r.query, g.source)}>${r.query}</a></td>
            <td>${ago(r.lastEvaluation)}</td><td class="num">${(r.evaluationTime * 1000).toFixed(1)} ms</td></tr>`)}</tbody>
        </table></div>
      </section>`)}`;
}
