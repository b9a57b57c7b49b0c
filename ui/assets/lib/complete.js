// Completion sources for the query editors, fed by the labels, series and tags APIs.

import { loki, prom, tempo } from './api.js';

const PROM_FUNCTIONS = ['abs', 'absent', 'absent_over_time', 'avg_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min',
  'count_over_time', 'day_of_month', 'day_of_week', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile', 'holt_winters', 'hour',
  'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'last_over_time', 'ln', 'log2', 'log10', 'max_over_time', 'min_over_time',
  'minute', 'month', 'predict_linear', 'present_over_time', 'quantile_over_time', 'rate', 'resets', 'round', 'scalar', 'sort', 'sort_desc',
  'sqrt', 'stddev_over_time', 'stdvar_over_time', 'sum_over_time', 'time', 'timestamp', 'vector', 'year'];
const PROM_AGGREGATIONS = ['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values'];
const LOGQL_FUNCTIONS = ['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate', 'absent_over_time', 'sum_over_time', 'avg_over_time',
  'min_over_time', 'max_over_time', 'stddev_over_time', 'stdvar_over_time', 'quantile_over_time', 'first_over_time', 'last_over_time',
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc', 'vector'];
const LOGQL_STAGES = ['json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'keep', 'drop', 'decolorize', 'unwrap'];
const TRACEQL_INTRINSICS = ['name', 'status', 'duration', 'kind', 'statusMessage', 'rootServiceName', 'rootName', 'traceDuration',
  'resource.', 'span.', 'event.name', 'link.traceID'];

function cache() {
  const memo = new Map();
  return (key, load) => {
    if (!memo.has(key)) memo.set(key, load().catch(() => { memo.delete(key); return []; }));
    return memo.get(key);
  };
}

function rank(words, prefix, kind, suffix = '') {
  const p = prefix.toLowerCase();
  const starts = [], contains = [];
  for (const w of words) {
    const l = w.toLowerCase();
    if (l === p) continue;
    if (l.startsWith(p)) starts.push(w); else if (p && l.includes(p)) contains.push(w);
  }
  return [...starts, ...contains].map((w) => ({ label: w, kind, insert: w + suffix }));
}

function insideString(text) {
  let quotes = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') { i++; continue; }
    if (text[i] === '"') quotes++;
  }
  return quotes % 2 === 1;
}

/** Completes inside a `{...}` selector: label names, or values after `label="`. */
async function selector(before, names, values) {
  const open = before.lastIndexOf('{');
  if (open < 0 || before.lastIndexOf('}') > open) return undefined;
  const inner = before.slice(open + 1);
  const value = /([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(inner);
  if (value) {
    const list = await values(value[1], before.slice(0, open));
    return { from: before.length - value[3].length, items: rank(list, value[3], 'value', '"') };
  }
  if (insideString(inner)) return null;
  const name = /(?:^|,)\s*([A-Za-z_][A-Za-z0-9_]*)?$/.exec(inner);
  if (name) {
    const prefix = name[1] ?? '';
    const list = await names(before.slice(0, open));
    return { from: before.length - prefix.length, items: rank(list, prefix, 'label') };
  }
  return null;
}

const metricBefore = (text) => /([A-Za-z_:][A-Za-z0-9_:]*)\s*$/.exec(text)?.[1];

/** PromQL: metric names, functions, label names and values (scoped to the metric when there is one). */
export function promComplete() {
  const cached = cache();
  const names = (prefix) => {
    const metric = metricBefore(prefix);
    return cached(`labels:${metric ?? ''}`, () => prom.labels(metric)).then((l) => l.filter((n) => n !== '__name__'));
  };
  const values = (label, prefix) => {
    const metric = metricBefore(prefix);
    return cached(`values:${label}:${metric ?? ''}`, () => prom.labelValues(label, metric));
  };
  return async (before) => {
    const inSelector = await selector(before, names, values);
    if (inSelector !== undefined) return inSelector;
    if (insideString(before) || before.lastIndexOf('[') > before.lastIndexOf(']')) return null;
    const grouping = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)$/.exec(before);
    if (grouping) {
      const prefix = /([A-Za-z_][A-Za-z0-9_]*)?$/.exec(grouping[1])[1] ?? '';
      const list = await cached('labels:', () => prom.labels()).then((l) => l.filter((n) => n !== '__name__'));
      return { from: before.length - prefix.length, items: rank(list, prefix, 'label') };
    }
    const word = /[A-Za-z_:][A-Za-z0-9_:]*$/.exec(before);
    if (!word) return null;
    const metrics = await cached('metrics', () => prom.labelValues('__name__'));
    return {
      from: before.length - word[0].length,
      items: [...rank(metrics, word[0], 'metric'), ...rank(PROM_AGGREGATIONS, word[0], 'aggregation'), ...rank(PROM_FUNCTIONS, word[0], 'function', '(')],
    };
  };
}

/** LogQL: stream labels and values, pipeline stages, functions. */
export function lokiComplete(rangeOf) {
  const cached = cache();
  const names = () => { const { start, end } = rangeOf(); return cached('labels', () => loki.labels(start, end)); };
  const values = (label) => { const { start, end } = rangeOf(); return cached(`values:${label}`, () => loki.labelValues(label, start, end)); };
  return async (before) => {
    const inSelector = await selector(before, names, values);
    if (inSelector !== undefined) return inSelector;
    if (insideString(before)) return null;
    const stage = /\|\s*([a-z_]*)$/.exec(before);
    if (stage) return { from: before.length - stage[1].length, items: rank(LOGQL_STAGES, stage[1], 'stage', ' ') };
    const word = /[a-z_]+$/.exec(before);
    if (!word || before.includes('{')) return null;
    return { from: before.length - word[0].length, items: rank(LOGQL_FUNCTIONS, word[0], 'function', '(') };
  };
}

/** TraceQL: intrinsics, resource./span. attributes from the tags API, and their values. */
export function traceqlComplete() {
  const cached = cache();
  const tags = () => cached('tags', () => tempo.tags());
  return async (before) => {
    const open = before.lastIndexOf('{');
    if (open < 0 || before.lastIndexOf('}') > open) return null;
    const inner = before.slice(open + 1);
    const value = /((?:resource|span)\.[A-Za-z0-9_.\-]+|name|status|kind|rootServiceName|rootName)\s*(=~|!~|!=|=)\s*"([^"]*)$/.exec(inner);
    if (value) {
      const tag = value[1] === 'rootServiceName' ? 'resource.service.name' : value[1];
      const list = await cached(`values:${tag}`, () => tempo.tagValues(tag)).then((vs) => vs.map((v) => String(v.value ?? v)));
      return { from: before.length - value[3].length, items: rank(list, value[3], 'value', '"') };
    }
    if (insideString(inner)) return null;
    const scoped = /\b(resource|span)\.([A-Za-z0-9_.\-]*)$/.exec(inner);
    if (scoped) {
      const scope = (await tags()).find((s) => s.name === scoped[1]);
      return { from: before.length - scoped[2].length, items: rank(scope?.tags ?? [], scoped[2], `${scoped[1]} attribute`) };
    }
    const word = /(?:^|[\s({&|!])([A-Za-z.]*)$/.exec(inner);
    if (!word) return null;
    return { from: before.length - word[1].length, items: rank(TRACEQL_INTRINSICS, word[1], 'intrinsic') };
  };
}
