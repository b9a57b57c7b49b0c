// Log lines (virtualised; click a line for its labels and metadata, its trace and its context)
// and the log-volume histogram by level.

import { useCallback, useMemo, useState } from 'preact/hooks';
import { html } from '../lib/html.js';
import { formatTime } from '../lib/time.js';
import { VirtualList } from './vlist.js';

const LEVELS = ['critical', 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'];
const LEVEL_COLOURS = { critical: '#8250df', fatal: '#8250df', error: '#d1242f', warn: '#d4a72c', info: '#2da44e', debug: '#1f6feb', trace: '#54aeff', unknown: '#afb8c1' };

/** Loki's level names to the ones above ("warning" → "warn", "err" → "error"). */
export function normaliseLevel(level) {
  const l = String(level ?? '').toLowerCase();
  if (!l) return 'unknown';
  if (l.startsWith('warn')) return 'warn';
  if (l === 'err' || l.startsWith('error')) return 'error';
  if (l === 'crit' || l.startsWith('critical') || l === 'emergency' || l === 'alert') return 'critical';
  if (l.startsWith('fatal')) return 'fatal';
  if (l.startsWith('info') || l === 'notice') return 'info';
  if (l.startsWith('debug') || l === 'dbg') return 'debug';
  if (l.startsWith('trace')) return 'trace';
  return 'unknown';
}

/** Streams from a Loki response (categorize-labels or plain) to lines, newest or oldest first. */
export function toLines(result, direction = 'backward') {
  const lines = [];
  for (const s of result ?? []) {
    const labels = s.stream ?? {};
    for (const v of s.values ?? []) {
      const [ts, line, extra] = v;
      const metadata = extra?.structuredMetadata ?? {};
      const parsed = extra?.parsed ?? {};
      const level = labels.detected_level ?? metadata.detected_level ?? labels.level ?? metadata.level ?? parsed.level ?? metadata.severity_text;
      lines.push({ ts: BigInt(ts), ms: Number(BigInt(ts) / 1000000n), line, labels, metadata, parsed, level: normaliseLevel(level) });
    }
  }
  lines.sort((a, b) => (a.ts === b.ts ? 0 : (a.ts < b.ts) === (direction === 'backward') ? 1 : -1));
  return lines;
}

/** A LogQL stream selector matching exactly these labels. */
export function selectorOf(labels) {
  const esc = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `{${Object.entries(labels).map(([k, v]) => `${k}="${esc(v)}"`).join(', ')}}`;
}

const traceIdOf = (l) => l.metadata.trace_id ?? l.metadata.traceid ?? l.parsed.trace_id ?? l.labels.trace_id;

/** {lines, onContext(line), maxHeight, label} */
export function LogLines({ lines, onContext, maxHeight = 640, label = 'Log lines' }) {
  const [open, setOpen] = useState(() => new Set());
  const fieldsOf = (l) => [
    ...Object.entries(l.labels).map(([k, v]) => ['label', k, v]),
    ...Object.entries(l.metadata).map(([k, v]) => ['metadata', k, v]),
    ...Object.entries(l.parsed).map(([k, v]) => ['parsed', k, v]),
  ];
  const height = useCallback((i) => (open.has(lines[i]) ? 22 + 20 * fieldsOf(lines[i]).length + 34 : 22), [open, lines]);
  const toggle = (l) => setOpen((s) => { const n = new Set(s); if (n.has(l)) n.delete(l); else n.add(l); return n; });
  if (!lines.length) return html`<p class="empty">No log lines in this range.</p>`;
  return html`<${VirtualList} count=${lines.length} height=${height} maxHeight=${maxHeight} label=${label} row=${(i, top) => {
    const l = lines[i], expanded = open.has(l), traceId = traceIdOf(l);
    return html`<div class="logline" role="listitem" style=${`top:${top}px`} data-level=${l.level} key=${i}>
      <div class="head" tabindex="0" aria-expanded=${expanded ? 'true' : 'false'} onClick=${() => toggle(l)}
        onKeyDown=${(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(l); } }}>
        <span class=${`lvl lvl-${l.level}`} title=${l.level}></span>
        <span class="ts">${formatTime(l.ms, true)}</span>
        <span class="body">${l.line}</span>
      </div>
      ${expanded && html`<div class="details">
        ${fieldsOf(l).map(([kind, k, v]) => html`<div class="field" title=${`${kind}: ${k}=${v}`}><span class="k">${k} <small>${kind}</small></span><span class="mono">${v}</span></div>`)}
        <div class="actions">
          ${traceId && html`<a href=${`/trace/${traceId}`}>Show trace</a>`}
          ${onContext && html`<button class="link" onClick=${() => onContext(l)}>Show context</button>`}
        </div>
      </div>`}
    </div>`;
  }} />`;
}

/** The log volume: stacked bars of lines per level and step, from `sum by (level)` series. */
export function Volume({ series, start, end, step }) {
  const buckets = useMemo(() => {
    const byTime = new Map();
    for (const s of series) {
      const level = normaliseLevel(s.labels.detected_level || s.labels.level);
      for (const [t, v] of s.points) {
        const b = byTime.get(t) ?? {};
        b[level] = (b[level] ?? 0) + v;
        byTime.set(t, b);
      }
    }
    return byTime;
  }, [series]);
  let max = 0, total = 0;
  const present = new Set();
  for (const b of buckets.values()) {
    let sum = 0;
    for (const [level, v] of Object.entries(b)) { sum += v; present.add(level); }
    max = Math.max(max, sum); total += sum;
  }
  const W = 1000, H = 90, span = Math.max(1, end - start), bw = Math.max(1, (step * 1000 / span) * W - 1);
  const bars = [];
  for (const [t, b] of buckets) {
    let y = H;
    const x = ((t - start) / span) * W - bw / 2;
    for (const level of LEVELS) {
      const v = b[level];
      if (!v) continue;
      const h = max ? (v / max) * (H - 4) : 0;
      y -= h;
      bars.push(html`<rect x=${x.toFixed(1)} y=${y.toFixed(1)} width=${bw.toFixed(1)} height=${h.toFixed(1)} fill=${LEVEL_COLOURS[level]}>
        <title>${formatTime(t)} ${level}: ${v}</title></rect>`);
    }
  }
  return html`
    <figure class="volume-wrap" style="margin:0" data-total=${total} aria-label="Log volume">
      <svg class="volume" viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img"
        aria-label=${`log volume: ${total} lines`}>${bars}</svg>
      <figcaption class="legend-inline">
        <span>${total} lines · max ${max} per ${step}s</span>
        ${LEVELS.filter((l) => present.has(l)).map((l) => html`<span data-level=${l}><i class="swatch" style=${`background:${LEVEL_COLOURS[l]}`}></i>${l}</span>`)}
      </figcaption>
    </figure>`;
}
