// Dashboards: the list (built in, provisioned from files, saved here), Grafana import, and one
// dashboard with its variables, shared time range, auto-refresh, rows and panels, editable and
// saved back through the dashboard API.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { dashboards as api } from '../lib/api.js';
import { navigate, withParams } from '../lib/router.js';
import { resolveRange } from '../lib/time.js';
import { chosen, substituter, variableOptions } from '../lib/vars.js';
import { Panel } from '../components/panels.js';
import { PanelEditor, JsonDialog, SettingsDialog, blankDashboard, nextPanelId } from '../components/dashedit.js';
import { TimePicker, useAutoRefresh } from '../components/timepicker.js';

export function DashboardsPage() {
  const [state, setState] = useState({ status: 'loading' });
  const [filter, setFilter] = useState('');
  const [importing, setImporting] = useState(false);
  const load = () => api.list().then((b) => setState({ status: 'done', ...b })).catch((e) => setState({ status: 'error', error: e.message }));
  useEffect(() => { load(); }, []);
  const f = filter.toLowerCase();
  const shown = (state.dashboards ?? []).filter((d) => !f || d.title.toLowerCase().includes(f) || (d.tags ?? []).some((t) => t.toLowerCase().includes(f)));
  return html`
    <h1>Dashboards</h1>
    <div class="toolbar">
      <input aria-label="Filter dashboards" placeholder="Filter by title or tag" value=${filter} onInput=${(e) => setFilter(e.target.value)} />
      <span class="grow"></span>
      <button onClick=${() => setImporting(true)}>Import Grafana dashboard</button>
      <a class="button primary" href="/dashboards/new">New dashboard</a>
    </div>
    ${state.status === 'loading' && html`<p class="loading">Loading…</p>`}
    ${state.status === 'error' && html`<p class="error" role="alert">${state.error}</p>`}
    ${state.status === 'done' && html`
      <div class="card scroll-x"><table class="grid" aria-label="Dashboards">
        <thead><tr><th>Title</th><th>Tags</th><th>Source</th><th>UID</th></tr></thead>
        <tbody>${shown.map((d) => html`<tr data-uid=${d.uid}><td><a href=${`/d/${d.uid}`}>${d.title}</a></td>
          <td><span class="labels">${(d.tags ?? []).map((t) => html`<span class="label">${t}</span>`)}</span></td>
          <td>${d.source}${d.file ? html` <small class="muted">${d.file}</small>` : ''}</td><td class="mono">${d.uid}</td></tr>`)}</tbody>
      </table></div>
      ${(state.errors ?? []).length > 0 && html`<div class="card" role="alert"><h2 style="margin-top:0">Files that could not be read</h2>
        <ul>${state.errors.map((e) => html`<li><span class="mono">${e.file}</span>: <span class="error">${e.error}</span></li>`)}</ul></div>`}`}
    ${importing && html`<${ImportDialog} onClose=${() => { setImporting(false); load(); }} />`}`;
}

function ImportDialog({ onClose }) {
  const ref = useRef(null);
  const [text, setText] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => { ref.current?.showModal(); }, []);
  const convert = async () => {
    setError(''); setResult(null);
    let value;
    try { value = JSON.parse(text); } catch (e) { setError(`not JSON: ${e.message}`); return; }
    try { setResult(await api.importGrafana(value)); } catch (e) { setError(e.message); }
  };
  const save = async () => {
    try {
      const listed = (await api.list()).dashboards.some((d) => d.uid === result.dashboard.uid);
      const current = listed ? (await api.get(result.dashboard.uid)).dashboard.version : 0;
      const saved = await api.save({ ...result.dashboard, version: current });
      ref.current?.close();
      navigate(`/d/${saved.uid}`);
    } catch (e) { setError(e.message); }
  };
  return html`
    <dialog ref=${ref} onClose=${onClose} aria-label="Import a Grafana dashboard">
      <h2 style="margin-top:0">Import a Grafana dashboard</h2>
      <p class="muted">Paste a dashboard's JSON (Grafana's "Export" or its API). Prometheus and Loki queries and the panel types Lookout draws are kept; the rest is named below.</p>
      <input type="file" accept=".json,application/json" aria-label="Dashboard file" onChange=${async (e) => setText(await e.target.files[0]?.text() ?? '')} />
      <textarea aria-label="Grafana dashboard JSON" rows="12" style="width:100%;margin-top:8px" class="mono" value=${text} onInput=${(e) => setText(e.target.value)} />
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${result && html`<div class="card" data-testid="import-result">
        <p><b>${result.dashboard.title}</b> · ${result.dashboard.rows.reduce((n, r) => n + r.panels.length, 0)} panels</p>
        ${result.skipped.length ? html`<p>Skipped:</p><ul class="skipped">${result.skipped.map((s) => html`<li>${s}</li>`)}</ul>` : html`<p>Nothing skipped.</p>`}
      </div>`}
      <div class="toolbar" style="margin-top:10px">
        <button onClick=${convert} class=${result ? '' : 'primary'}>Convert</button>
        ${result && html`<button class="primary" onClick=${save}>Save dashboard</button>`}
        <span class="grow"></span><button onClick=${() => ref.current.close()}>Cancel</button>
      </div>
    </dialog>`;
}

/** The variables' options and chosen values; null until the first ones are known, so panels
 * never run with a variable left unreplaced. */
function useVariables(dashboard, params) {
  const [values, setValues] = useState(null);
  const key = dashboard ? JSON.stringify(dashboard.variables ?? []) + params.toString() : null;
  useEffect(() => {
    if (!dashboard) return undefined;
    let live = true;
    (async () => {
      const out = {};
      for (const v of dashboard.variables ?? []) {
        let options = [], error = '';
        try { options = (await variableOptions(v, substituter(out))).map(String); } catch (e) { error = e.message; }
        out[v.name] = { options, selected: chosen(v, options, params), error };
      }
      if (live) setValues(out);
    })();
    return () => { live = false; };
  }, [key]);
  return values;
}

function Variables({ variables, values }) {
  if (!variables?.length) return null;
  return html`<div class="variables" aria-label="Variables">${variables.map((v) => {
    const val = values[v.name];
    if (!val) return html`<label>${v.label || v.name} <span class="muted">…</span></label>`;
    const options = v.includeAll ? ['$__all', ...val.options] : val.options;
    const onChange = (e) => {
      const picked = v.multi ? Array.from(e.target.selectedOptions, (o) => o.value) : [e.target.value];
      const params = new URLSearchParams(location.search);
      params.delete(`var-${v.name}`);
      for (const p of picked) params.append(`var-${v.name}`, p);
      navigate(`${location.pathname}?${params}`);
    };
    return html`<label>${v.label || v.name}
      <select aria-label=${v.label || v.name} multiple=${!!v.multi} size=${v.multi ? Math.min(4, options.length) : undefined} onChange=${onChange}>
        ${options.map((o) => html`<option value=${o} selected=${val.selected.includes(o)}>${o === '$__all' ? 'All' : o}</option>`)}
      </select>${val.error && html`<span class="error" title=${val.error}>!</span>`}</label>`;
  })}</div>`;
}


export function DashboardPage({ path, params }) {
  const isNew = path === '/dashboards/new';
  const uid = isNew ? null : decodeURIComponent(path.slice(3));
  const [loaded, setLoaded] = useState(isNew ? { status: 'done', source: 'new', skipped: [] } : { status: 'loading' });
  const [draft, setDraft] = useState(isNew ? blankDashboard() : null);
  const [editing, setEditing] = useState(isNew);
  const [dirty, setDirty] = useState(isNew);
  const [dialog, setDialog] = useState(null);
  const [saveError, setSaveError] = useState('');
  const [runs, setRuns] = useState(0);
  const began = useRef(performance.now());
  const reported = useRef(new Map());

  useEffect(() => {
    if (isNew) return;
    api.get(uid).then((b) => { setLoaded({ status: 'done', source: b.source, skipped: b.skipped ?? [] }); setDraft(b.dashboard); })
      .catch((e) => setLoaded({ status: 'error', error: e.status === 404 ? `There is no dashboard "${uid}".` : e.message }));
  }, [uid]);

  const range = { from: params.get('from') || draft?.time?.from || 'now-1h', to: params.get('to') || draft?.time?.to || 'now' };
  const refresh = params.get('refresh') ?? draft?.refresh ?? '';
  useAutoRefresh(refresh, () => setRuns((n) => n + 1));
  const resolved = useMemo(() => resolveRange(range), [range.from, range.to, runs]);
  const values = useVariables(draft, params);
  const varsKey = JSON.stringify(values);
  const substitute = useMemo(() => (text, m) => substituter(values ?? {}, m)(text), [varsKey]);

  const change = (next) => { setDraft(next); setDirty(true); };
  const onState = (id, status) => {
    reported.current.set(id, status);
    const expected = draft.rows.filter((r) => !r.collapsed).flatMap((r) => r.panels.map((p) => p.id));
    if (!document.documentElement.dataset.dashboardRendered && expected.every((i) => reported.current.has(i))) {
      document.documentElement.dataset.dashboardRendered = String(Math.round(performance.now()));
      document.documentElement.dataset.dashboardMountedAt = String(Math.round(began.current));
    }
  };
  useEffect(() => () => { delete document.documentElement.dataset.dashboardRendered; }, []);

  if (loaded.status === 'loading' || (loaded.status === 'done' && !draft)) return html`<p class="loading">Loading dashboard…</p>`;
  if (loaded.status === 'error') return html`<h1>Dashboard</h1><p class="error" role="alert">${loaded.error}</p><a href="/dashboards">All dashboards</a>`;

  const save = async () => {
    setSaveError('');
    const d = { ...draft };
    if (!d.uid) d.uid = `${d.title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'dashboard'}-${Math.random().toString(36).slice(2, 6)}`;
    try {
      const saved = await api.save(d);
      setDraft({ ...d, version: saved.version });
      setDirty(false);
      setLoaded((l) => ({ ...l, source: 'saved' }));
      if (isNew) navigate(`/d/${saved.uid}`, true);
    } catch (e) { setSaveError(e.message); }
  };
  const updatePanel = (rowIndex, panelIndex, panel) => change({
    ...draft, rows: draft.rows.map((r, ri) => (ri !== rowIndex ? r : { ...r, panels: r.panels.map((p, pi) => (pi === panelIndex ? panel : p)) })),
  });
  const removePanel = (rowIndex, panelIndex) => change({
    ...draft, rows: draft.rows.map((r, ri) => (ri !== rowIndex ? r : { ...r, panels: r.panels.filter((_, pi) => pi !== panelIndex) })),
  });
  const movePanel = (rowIndex, panelIndex, delta) => {
    const panels = draft.rows[rowIndex].panels.slice();
    const to = panelIndex + delta;
    if (to < 0 || to >= panels.length) return;
    [panels[panelIndex], panels[to]] = [panels[to], panels[panelIndex]];
    change({ ...draft, rows: draft.rows.map((r, ri) => (ri === rowIndex ? { ...r, panels } : r)) });
  };
  const addPanel = () => {
    const rows = draft.rows.length ? draft.rows : [{ title: '', collapsed: false, panels: [] }];
    const panel = { id: nextPanelId(draft), title: 'New panel', type: 'timeseries', width: 12, height: 8, unit: '', queries: [{ lang: 'promql', expr: '', legend: '' }], options: {} };
    const last = rows.length - 1;
    setDraft({ ...draft, rows: rows.map((r, i) => (i === last ? { ...r, panels: [...r.panels, panel] } : r)) });
    setDirty(true);
    setDialog({ kind: 'panel', row: last, index: rows[last].panels.length, panel });
  };
  const toggleRow = (ri) => setDraft({ ...draft, rows: draft.rows.map((r, i) => (i === ri ? { ...r, collapsed: !r.collapsed } : r)) });

  return html`
    <div class="toolbar">
      <h1 class="grow" style="margin:0" data-testid="dashboard-title">${draft.title}</h1>
      ${dirty && html`<span class="muted">unsaved changes</span>`}
      ${editing ? html`
        <button onClick=${addPanel}>Add panel</button>
        <button onClick=${() => change({ ...draft, rows: [...draft.rows, { title: 'New row', collapsed: false, panels: [] }] })}>Add row</button>
        <button onClick=${() => setDialog({ kind: 'settings' })}>Settings</button>
        <button onClick=${() => setDialog({ kind: 'json' })}>JSON</button>
        <button onClick=${() => setEditing(false)}>Done</button>`
        : html`<button onClick=${() => setEditing(true)}>Edit</button>`}
      <button class="primary" disabled=${!dirty} onClick=${save}>Save</button>
    </div>
    ${saveError && html`<p class="error" role="alert">${saveError} <button onClick=${() => location.reload()}>Reload</button></p>`}
    ${loaded.skipped.length > 0 && html`<details class="card"><summary>Imported from Grafana; ${loaded.skipped.length} item(s) skipped</summary>
      <ul class="skipped">${loaded.skipped.map((s) => html`<li>${s}</li>`)}</ul></details>`}
    <div class="toolbar">
      <${Variables} variables=${draft.variables} values=${values ?? {}} />
      <span class="grow"></span>
      <${TimePicker} range=${range} refresh=${refresh} onChange=${({ from, to, refresh: rf }) => navigate(withParams({ from, to, refresh: rf }))}
        onRefresh=${() => setRuns((n) => n + 1)} />
    </div>
    ${resolved.error && html`<p class="error" role="alert">${resolved.error}</p>`}
    ${!resolved.error && values && draft.rows.map((row, ri) => html`
      <div class="row" data-row=${row.title}>
        ${(row.title || editing) && html`<div class="row-title">
          <button class="link" aria-expanded=${!row.collapsed} onClick=${() => toggleRow(ri)}>${row.collapsed ? '▸' : '▾'}</button>
          ${editing ? html`<input aria-label="Row title" value=${row.title} onInput=${(e) => change({ ...draft, rows: draft.rows.map((r, i) => (i === ri ? { ...r, title: e.target.value } : r)) })} />
            <button class="link danger" onClick=${() => change({ ...draft, rows: draft.rows.filter((_, i) => i !== ri) })}>Remove row</button>`
            : html`<span>${row.title}</span>`}
          <span class="muted">(${row.panels.length})</span></div>`}
        ${!row.collapsed && html`<div class="dash-grid">${row.panels.map((p, pi) => html`
          <${Panel} key=${p.id} panel=${p} start=${resolved.start} end=${resolved.end} substitute=${substitute} runs=${runs} varsKey=${varsKey}
            editing=${editing} onState=${onState}
            onEdit=${() => setDialog({ kind: 'panel', row: ri, index: pi, panel: p })}
            onRemove=${() => removePanel(ri, pi)} onMove=${(d) => movePanel(ri, pi, d)} />`)}</div>`}
      </div>`)}
    ${!draft.rows.some((r) => r.panels.length) && html`<p class="empty">This dashboard has no panels yet. ${editing ? 'Add one.' : 'Press Edit to add one.'}</p>`}
    ${dialog?.kind === 'panel' && html`<${PanelEditor} panel=${dialog.panel} onClose=${() => setDialog(null)}
      onApply=${(p) => { updatePanel(dialog.row, dialog.index, p); setDialog(null); }} />`}
    ${dialog?.kind === 'settings' && html`<${SettingsDialog} dashboard=${draft} onClose=${() => setDialog(null)}
      onApply=${(d) => { change(d); setDialog(null); }} />`}
    ${dialog?.kind === 'json' && html`<${JsonDialog} dashboard=${draft} onClose=${() => setDialog(null)}
      onApply=${(d) => { change(d); setDialog(null); }} />`}`;
}

