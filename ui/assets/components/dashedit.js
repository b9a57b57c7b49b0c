// Editing a dashboard: one panel's title, type, size, unit and queries; the dashboard's
// settings and variables; or its whole JSON model.

import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { PANEL_TYPES } from './panels.js';

const UNITS = ['', 'short', 'none', 'percent', 'percentunit', 's', 'ms', 'bytes', 'decbytes', 'reqps', 'ops'];
const LANGS = [['promql', 'PromQL'], ['logql', 'LogQL'], ['traceql', 'TraceQL']];

/** An empty dashboard for "New dashboard". */
export function blankDashboard() {
  return { uid: '', title: 'New dashboard', description: '', tags: [], time: { from: 'now-1h', to: 'now' }, refresh: '', version: 0, variables: [], rows: [{ title: '', collapsed: false, panels: [] }] };
}

/** A panel id not used yet in the dashboard. */
export function nextPanelId(d) {
  return 1 + Math.max(0, ...d.rows.flatMap((r) => r.panels.map((p) => p.id)));
}

/** A dialog's error line and its Cancel and Apply buttons. */
function Footer({ error, close, apply }) {
  return html`
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="toolbar" style="margin-top:10px"><span class="grow"></span>
      <button onClick=${close}>Cancel</button><button class="primary" onClick=${() => apply(close)}>Apply</button></div>`;
}

function Dialog({ label, children, onClose }) {
  const ref = useRef(null);
  useEffect(() => { ref.current?.showModal(); }, []);
  return html`<dialog ref=${ref} onClose=${onClose} aria-label=${label}>${children(() => ref.current?.close())}</dialog>`;
}

export function PanelEditor({ panel, onApply, onClose }) {
  const [p, setP] = useState(panel);
  const [optionsText, setOptionsText] = useState(JSON.stringify(panel.options ?? {}, null, 2));
  const [error, setError] = useState('');
  const set = (k, number) => (e) => setP({ ...p, [k]: number ? Number(e.target.value) : e.target.value });
  const setQuery = (i, k) => (e) => setP({ ...p, queries: p.queries.map((q, qi) => (qi === i ? { ...q, [k]: e.target.value } : q)) });
  const apply = (close) => {
    let options;
    try { options = JSON.parse(optionsText || '{}'); } catch (e) { setError(`options: ${e.message}`); return; }
    if (!(p.width >= 1 && p.width <= 24)) { setError('width must be 1 to 24 columns'); return; }
    if (!(p.height >= 1 && p.height <= 64)) { setError('height must be 1 to 64 rows'); return; }
    onApply({ ...p, options });
    close();
  };
  return html`<${Dialog} label="Edit panel" onClose=${onClose}>${(close) => html`
    <h2 style="margin-top:0">Edit panel</h2>
    <div class="form">
      <label for="panel-title">Title</label><input id="panel-title" value=${p.title} onInput=${set('title')} />
      <label for="panel-type">Type</label>
      <select id="panel-type" value=${p.type} onChange=${set('type')}>${PANEL_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}</select>
      <label for="panel-width">Width (of 24)</label><input id="panel-width" type="number" min="1" max="24" value=${p.width} onInput=${set('width', true)} />
      <label for="panel-height">Height (rows)</label><input id="panel-height" type="number" min="1" max="64" value=${p.height} onInput=${set('height', true)} />
      <label for="panel-unit">Unit</label>
      <select id="panel-unit" value=${p.unit ?? ''} onChange=${set('unit')}>${UNITS.map((u) => html`<option value=${u}>${u || '(auto)'}</option>`)}</select>
    </div>
    <h2>Queries</h2>
    ${p.queries.map((q, i) => html`<div class="card" data-query=${i}>
      <div class="toolbar">
        <select aria-label=${`Query ${i + 1} language`} value=${q.lang} onChange=${setQuery(i, 'lang')}>${LANGS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select>
        <input aria-label=${`Query ${i + 1} legend`} placeholder="Legend, e.g. {{service}}" value=${q.legend ?? ''} onInput=${setQuery(i, 'legend')} />
        <span class="grow"></span>
        <button class="link danger" onClick=${() => setP({ ...p, queries: p.queries.filter((_, qi) => qi !== i) })}>Remove query</button>
      </div>
      <textarea aria-label=${`Query ${i + 1}`} class="mono" rows="2" style="width:100%" value=${q.expr} onInput=${setQuery(i, 'expr')} />
    </div>`)}
    <button onClick=${() => setP({ ...p, queries: [...p.queries, { lang: p.queries[0]?.lang ?? 'promql', expr: '', legend: '' }] })}>Add query</button>
    <h2>Options</h2>
    <p class="muted">min, max, decimals, thresholds ([{"value": null, "color": "green"}, {"value": 80, "color": "red"}]), limit.</p>
    <textarea aria-label="Panel options" class="mono" rows="5" style="width:100%" value=${optionsText} onInput=${(e) => setOptionsText(e.target.value)} />
    <${Footer} error=${error} close=${close} apply=${apply} />`}
  </${Dialog}>`;
}

export function SettingsDialog({ dashboard, onApply, onClose }) {
  const [d, setD] = useState({ ...dashboard, tagsText: (dashboard.tags ?? []).join(', ') });
  const [varsText, setVarsText] = useState(JSON.stringify(dashboard.variables ?? [], null, 2));
  const [error, setError] = useState('');
  const set = (k) => (e) => setD({ ...d, [k]: e.target.value });
  const apply = (close) => {
    let variables;
    try { variables = JSON.parse(varsText || '[]'); } catch (e) { setError(`variables: ${e.message}`); return; }
    const { tagsText, ...rest } = d;
    onApply({ ...rest, tags: tagsText.split(',').map((t) => t.trim()).filter(Boolean), variables });
    close();
  };
  return html`<${Dialog} label="Dashboard settings" onClose=${onClose}>${(close) => html`
    <h2 style="margin-top:0">Dashboard settings</h2>
    <div class="form">
      <label for="dash-title">Title</label><input id="dash-title" value=${d.title} onInput=${set('title')} />
      <label for="dash-description">Description</label><input id="dash-description" value=${d.description ?? ''} onInput=${set('description')} />
      <label for="dash-tags">Tags</label><input id="dash-tags" value=${d.tagsText} onInput=${set('tagsText')} placeholder="comma, separated" />
      <label for="dash-from">Default from</label><input id="dash-from" value=${d.time?.from ?? 'now-1h'} onInput=${(e) => setD({ ...d, time: { ...d.time, from: e.target.value } })} />
      <label for="dash-to">Default to</label><input id="dash-to" value=${d.time?.to ?? 'now'} onInput=${(e) => setD({ ...d, time: { ...d.time, to: e.target.value } })} />
      <label for="dash-refresh">Auto refresh</label><input id="dash-refresh" value=${d.refresh ?? ''} onInput=${set('refresh')} placeholder="e.g. 30s" />
    </div>
    <h2>Variables</h2>
    <p class="muted">[{"name": "service", "type": "query", "query": "label_values(up, job)", "multi": false, "includeAll": true}] or {"type": "custom", "options": [...]}</p>
    <textarea aria-label="Variables" class="mono" rows="8" style="width:100%" value=${varsText} onInput=${(e) => setVarsText(e.target.value)} />
    <${Footer} error=${error} close=${close} apply=${apply} />`}
  </${Dialog}>`;
}

export function JsonDialog({ dashboard, onApply, onClose }) {
  const [text, setText] = useState(JSON.stringify(dashboard, null, 2));
  const [error, setError] = useState('');
  const apply = (close) => {
    let d;
    try { d = JSON.parse(text); } catch (e) { setError(e.message); return; }
    if (!Array.isArray(d.rows)) { setError('a dashboard needs "rows"'); return; }
    onApply({ ...d, uid: dashboard.uid || d.uid, version: dashboard.version });
    close();
  };
  return html`<${Dialog} label="Dashboard JSON" onClose=${onClose}>${(close) => html`
    <h2 style="margin-top:0">Dashboard JSON</h2>
    <textarea aria-label="Dashboard JSON" class="mono" rows="24" style="width:100%" value=${text} onInput=${(e) => setText(e.target.value)} />
    <${Footer} error=${error} close=${close} apply=${apply} />`}
  </${Dialog}>`;
}
