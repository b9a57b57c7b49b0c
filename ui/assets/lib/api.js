// Lookout's own HTTP APIs, called like any client: Prometheus's, Loki's and Tempo's shapes, and
// the dashboard API. Every failure becomes an ApiError carrying the server's own message.

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    throw new ApiError(`cannot reach Lookout: ${e.message}`, 0);
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* Loki and Tempo answer errors as plain text */ }
  if (response.status === 401 && !url.startsWith('/ui/api/login')) {
    // The session ended (or never began): the shell shows the sign-in page.
    window.dispatchEvent(new CustomEvent('lookout:signed-out'));
  }
  if (!response.ok || body?.status === 'error') {
    const message = body?.error || body?.message || text.trim() || `${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status);
  }
  return body;
}

function qs(params) {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    for (const item of Array.isArray(v) ? v : [v]) search.append(k, String(item));
  }
  return search.toString();
}

const sec = (ms) => (ms / 1000).toFixed(3);
const ns = (t) => (typeof t === 'bigint' ? String(t) : String(BigInt(Math.round(t)) * 1000000n));

export const prom = {
  query: (query, time) => request(`/api/v1/query?${qs({ query, time: time && sec(time) })}`).then((b) => b.data),
  queryRange: (query, start, end, step) =>
    request(`/api/v1/query_range?${qs({ query, start: sec(start), end: sec(end), step })}`).then((b) => b.data),
  labels: (match, start, end) =>
    request(`/api/v1/labels?${qs({ 'match[]': match, start: start && sec(start), end: end && sec(end) })}`).then((b) => b.data),
  labelValues: (name, match, start, end) =>
    request(`/api/v1/label/${encodeURIComponent(name)}/values?${qs({ 'match[]': match, start: start && sec(start), end: end && sec(end) })}`)
      .then((b) => b.data),
  exemplars: (query, start, end) =>
    request(`/api/v1/query_exemplars?${qs({ query, start: sec(start), end: sec(end) })}`).then((b) => b.data),
  rules: () => request('/api/v1/rules').then((b) => b.data),
  alerts: () => request('/api/v1/alerts').then((b) => b.data),
};

export const loki = {
  queryRange: (query, start, end, { limit = 1000, direction = 'backward', step } = {}) =>
    request(`/loki/api/v1/query_range?${qs({ query, start: ns(start), end: ns(end), limit, direction, step })}`, {
      headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' },
    }).then((b) => b.data),
  labels: (start, end) => request(`/loki/api/v1/labels?${qs({ start: ns(start), end: ns(end) })}`).then((b) => b.data ?? []),
  labelValues: (name, start, end, query) =>
    request(`/loki/api/v1/label/${encodeURIComponent(name)}/values?${qs({ start: ns(start), end: ns(end), query })}`)
      .then((b) => b.data ?? []),
  tailUrl: (query, start) => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/loki/api/v1/tail?${qs({ query, start: ns(start), limit: 100 })}`;
  },
};

export const tempo = {
  search: (q, start, end, limit = 50) =>
    request(`/api/search?${qs({ q, start: Math.floor(start / 1000), end: Math.ceil(end / 1000), limit, spss: 10 })}`),
  trace: (id) => request(`/api/v2/traces/${encodeURIComponent(id)}`),
  tags: () => request('/api/v2/search/tags').then((b) => b.scopes ?? []),
  tagValues: (tag) => request(`/api/v2/search/tag/${encodeURIComponent(tag)}/values`).then((b) => b.tagValues ?? []),
  metricsRange: (q, start, end, step) =>
    request(`/api/metrics/query_range?${qs({ q, start: Math.floor(start / 1000), end: Math.ceil(end / 1000), step })}`),
};

const json = (method, body) => ({ method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

export const session = {
  /** `{auth: false}`, or `{auth: true, tenant, access}` (`tenant` null until signed in). */
  get: () => request('/ui/api/session'),
  signIn: (credentials) => request('/ui/api/login', json('POST', credentials)),
  signOut: () => request('/ui/api/logout', { method: 'POST' }),
};

export const dashboards = {
  list: () => request('/ui/api/dashboards'),
  get: (uid) => request(`/ui/api/dashboards/${encodeURIComponent(uid)}`),
  save: (dashboard) => request(`/ui/api/dashboards/${encodeURIComponent(dashboard.uid)}`, json('PUT', dashboard)),
  remove: (uid) => request(`/ui/api/dashboards/${encodeURIComponent(uid)}`, { method: 'DELETE' }),
  importGrafana: (grafana) => request('/ui/api/dashboards/import', json('POST', grafana)),
};

/** Prometheus matrix/vector results to [{labels, points: [[ms, value]]}]. */
export function toSeries(data) {
  if (!data) return [];
  if (data.resultType === 'matrix') {
    return data.result.map((r) => ({ labels: r.metric ?? {}, points: (r.values ?? []).map(([t, v]) => [t * 1000, Number(v)]) }));
  }
  if (data.resultType === 'vector') {
    return data.result.map((r) => ({ labels: r.metric ?? {}, points: [[r.value[0] * 1000, Number(r.value[1])]] }));
  }
  if (data.resultType === 'scalar') return [{ labels: {}, points: [[data.result[0] * 1000, Number(data.result[1])]] }];
  return [];
}

/** Tempo metrics (TraceQL metrics) results to the same shape. */
export function tempoSeries(body) {
  return (body?.series ?? []).map((s) => ({
    labels: Object.fromEntries((s.labels ?? []).map((l) => [l.key, Object.values(l.value ?? {})[0]])),
    points: (s.samples ?? []).map((p) => [Number(p.timestampMs), Number(p.value)]),
  }));
}
