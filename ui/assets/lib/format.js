// Values in Grafana's units, and durations of spans.

const SI = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

function trim(n, decimals) {
  if (!Number.isFinite(n)) return String(n);
  if (decimals === undefined && n !== 0 && Math.abs(n) < 0.01) return Number(n.toPrecision(2)).toString();
  const d = decimals ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return Number(n.toFixed(d)).toString();
}

function short(v, decimals) {
  for (const [size, suffix] of SI) if (Math.abs(v) >= size) return trim(v / size, decimals) + suffix;
  return trim(v, decimals);
}

/** Seconds to a short duration: 0.0042 → "4.2 ms". */
export function seconds(v, decimals) {
  const a = Math.abs(v);
  if (a === 0) return '0 s';
  if (a < 1e-6) return trim(v * 1e9, decimals) + ' ns';
  if (a < 1e-3) return trim(v * 1e6, decimals) + ' µs';
  if (a < 1) return trim(v * 1e3, decimals) + ' ms';
  if (a < 60) return trim(v, decimals) + ' s';
  if (a < 3600) return trim(v / 60, decimals) + ' min';
  if (a < 86400) return trim(v / 3600, decimals) + ' h';
  return trim(v / 86400, decimals) + ' d';
}

function bytes(v, decimals, base = 1024, names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']) {
  let i = 0, x = v;
  while (Math.abs(x) >= base && i < names.length - 1) { x /= base; i++; }
  return trim(x, decimals) + ' ' + names[i];
}

/** A value in a Grafana unit id ("short", "percent", "s", "bytes", "reqps", …). */
export function formatValue(v, unit = '', decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  switch (unit) {
    case 'percent': return trim(v, decimals) + '%';
    case 'percentunit': return trim(v * 100, decimals) + '%';
    case 's': return seconds(v, decimals);
    case 'ms': return seconds(v / 1e3, decimals);
    case 'µs': case 'us': return seconds(v / 1e6, decimals);
    case 'ns': return seconds(v / 1e9, decimals);
    case 'bytes': return bytes(v, decimals);
    case 'decbytes': return bytes(v, decimals, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB']);
    case 'reqps': return short(v, decimals) + ' req/s';
    case 'ops': return short(v, decimals) + ' ops/s';
    case 'rps': return short(v, decimals) + ' rd/s';
    case 'wps': return short(v, decimals) + ' wr/s';
    case 'none': return trim(v, decimals);
    default: return short(v, decimals);
  }
}

/** Nanoseconds to a span duration: 1_500_000 → "1.5 ms". */
export function nanos(ns) {
  return seconds(ns / 1e9);
}

/** "{a="1", b="2"}" for a label set, the metric name first. */
export function seriesName(labels = {}) {
  const { __name__: name = '', ...rest } = labels;
  const inner = Object.entries(rest).map(([k, v]) => `${k}="${v}"`).join(', ');
  return inner ? `${name}{${inner}}` : name || '{}';
}

/** A legend template with {{label}} placeholders filled from labels, or the series name. */
export function legendFor(template, labels) {
  if (!template || template === '__auto') return seriesName(labels);
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, k) => labels[k] ?? '');
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#3b75af', '#ef8636', '#519e3e', '#c53a32', '#8d6bb8', '#84584e', '#d57dbf', '#585858', '#a6a837', '#4ab8c8'];

/** The i-th colour of the chart palette. */
export function colour(i) { return PALETTE[i % PALETTE.length]; }

/** A stable colour for a name (a service), from a hash of it. */
export function colourOf(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return PALETTE[(h >>> 0) % PALETTE.length];
}
