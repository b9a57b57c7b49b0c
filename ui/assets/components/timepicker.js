// The time range picker: relative presets, absolute or relative from/to, refresh and auto-refresh.

import { useEffect, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { PRESETS, resolveRange } from '../lib/time.js';

const REFRESH = [['', 'Off'], ['5s', '5s'], ['10s', '10s'], ['30s', '30s'], ['1m', '1m'], ['5m', '5m']];

/** {range: {from, to}, refresh, onChange({from, to, refresh}), onRefresh()} */
export function TimePicker({ range, refresh = '', onChange, onRefresh, showAuto = true }) {
  const preset = range.to === 'now' && PRESETS.some(([f]) => f === range.from) ? range.from : 'custom';
  const [custom, setCustom] = useState(preset === 'custom');
  const [from, setFrom] = useState(range.from);
  const [to, setTo] = useState(range.to);
  const [error, setError] = useState('');
  useEffect(() => { setFrom(range.from); setTo(range.to); }, [range.from, range.to]);

  const apply = (e) => {
    e?.preventDefault();
    const r = resolveRange({ from, to });
    if (r.error) { setError(r.error); return; }
    setError('');
    onChange({ from: from.trim(), to: to.trim(), refresh });
  };
  return html`
    <form class="timepicker" onSubmit=${apply} aria-label="Time range">
      <select aria-label="Time range" value=${custom ? 'custom' : preset}
        onChange=${(e) => {
          if (e.target.value === 'custom') { setCustom(true); return; }
          setCustom(false);
          onChange({ from: e.target.value, to: 'now', refresh });
        }}>
        ${PRESETS.map(([v, label]) => html`<option value=${v}>${label}</option>`)}
        <option value="custom">Custom range…</option>
      </select>
      ${custom && html`
        <input aria-label="From" value=${from} onInput=${(e) => setFrom(e.target.value)} placeholder="now-1h or 2026-12-07 10:00" />
        <input aria-label="To" value=${to} onInput=${(e) => setTo(e.target.value)} placeholder="now" />
        <button type="submit">Apply</button>`}
      <button type="button" onClick=${onRefresh} title="Run again" aria-label="Refresh">↻</button>
      ${showAuto && html`
        <select aria-label="Auto refresh" value=${refresh} onChange=${(e) => onChange({ ...range, refresh: e.target.value })}>
          ${REFRESH.map(([v, label]) => html`<option value=${v}>${v ? `Every ${label}` : 'Auto refresh off'}</option>`)}
        </select>`}
      ${error && html`<span class="error" role="alert">${error}</span>`}
    </form>`;
}

/** Calls `tick` every `refresh` (a duration such as "10s"), while the page is visible. */
export function useAutoRefresh(refresh, tick) {
  useEffect(() => {
    const ms = { '5s': 5e3, '10s': 1e4, '30s': 3e4, '1m': 6e4, '5m': 3e5, '15m': 9e5 }[refresh];
    if (!ms) return undefined;
    const id = setInterval(() => { if (!document.hidden) tick(); }, ms);
    return () => clearInterval(id);
  }, [refresh]);
}
