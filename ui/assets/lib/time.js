// Time ranges as Grafana writes them ("now-1h", "now", RFC 3339, epoch milliseconds), steps and
// the interval macros of Grafana's Prometheus data source.

const UNITS = { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31536e6 };

/** Milliseconds in a Prometheus-style duration such as "1h30m" or "250ms"; NaN when malformed. */
export function parseDuration(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0, matched = 0, m;
  const s = String(text).trim();
  while ((m = re.exec(s))) { total += parseFloat(m[1]) * UNITS[m[2]]; matched = re.lastIndex; }
  return matched === s.length && matched > 0 ? total : NaN;
}

/** A time expression to epoch milliseconds: "now", "now-15m", RFC 3339, "YYYY-MM-DD HH:MM" (local), or epoch ms. */
export function parseTime(text, now = Date.now()) {
  const s = String(text ?? '').trim();
  if (s === 'now') return now;
  const rel = /^now-(.+)$/.exec(s);
  if (rel) { const d = parseDuration(rel[1]); return Number.isNaN(d) ? NaN : now - d; }
  if (/^\d{12,}$/.test(s)) return Number(s);
  const local = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (local) return new Date(+local[1], local[2] - 1, +local[3], +local[4], +local[5], +(local[6] || 0)).getTime();
  const t = Date.parse(s);
  return Number.isNaN(t) ? NaN : t;
}

/** The absolute [start, end] of a range such as {from: "now-1h", to: "now"}, or an error message. */
export function resolveRange(range, now = Date.now()) {
  const start = parseTime(range.from, now), end = parseTime(range.to, now);
  if (Number.isNaN(start)) return { error: `cannot read the start time "${range.from}"` };
  if (Number.isNaN(end)) return { error: `cannot read the end time "${range.to}"` };
  if (start >= end) return { error: 'the start time must be before the end time' };
  return { start, end };
}

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** A query step in seconds giving about `points` points over [start, end] (ms). */
export function stepFor(start, end, points = 240) {
  const raw = (end - start) / 1000 / points;
  return NICE.find((n) => n >= raw) ?? Math.ceil(raw / 86400) * 86400;
}

/** A duration in seconds written the Prometheus way, e.g. 90 → "1m30s". */
export function promDuration(seconds) {
  let s = Math.max(1, Math.round(seconds)), out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
    if (s >= size) { out += Math.floor(s / size) + unit; s %= size; }
  }
  return out;
}

/** Grafana's macros for a step (s) and range (ms): $__interval, $__rate_interval, $__range. */
export function macros(step, start, end, scrape = 15) {
  const range = Math.round((end - start) / 1000);
  return {
    __interval: promDuration(step),
    __interval_ms: String(step * 1000),
    __rate_interval: promDuration(Math.max(step + scrape, 4 * scrape)),
    __range: promDuration(range),
    __range_s: String(range),
    __range_ms: String(range * 1000),
  };
}

/** Local "YYYY-MM-DD HH:MM:SS" for a time in ms. */
export function formatTime(ms, withMs = false) {
  const d = new Date(ms), p = (n, w = 2) => String(n).padStart(w, '0');
  const base = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return withMs ? `${base}.${p(d.getMilliseconds(), 3)}` : base;
}

export const PRESETS = [
  ['now-5m', 'Last 5 minutes'], ['now-15m', 'Last 15 minutes'], ['now-30m', 'Last 30 minutes'], ['now-1h', 'Last 1 hour'], ['now-3h', 'Last 3 hours'],
  ['now-6h', 'Last 6 hours'], ['now-12h', 'Last 12 hours'], ['now-24h', 'Last 24 hours'], ['now-2d', 'Last 2 days'], ['now-7d', 'Last 7 days'],
];
