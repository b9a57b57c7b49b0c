// OTLP/JSON traces (Tempo's trace-by-id answer) to flat spans and a span tree.

const KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];

function hexId(id) {
  if (!id) return '';
  if (/^[0-9a-fA-F]+$/.test(id) && (id.length === 32 || id.length === 16)) return id.toLowerCase();
  try {
    return Array.from(atob(id), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  } catch { return String(id); }
}

/** An OTLP AnyValue as plain JavaScript. */
export function anyValue(v) {
  if (!v || typeof v !== 'object') return v ?? '';
  const inner = v.value && typeof v.value === 'object' && !Array.isArray(v.value) && Object.keys(v).length === 1 ? v.value : v;
  if ('stringValue' in inner) return inner.stringValue;
  if ('intValue' in inner) return Number(inner.intValue);
  if ('doubleValue' in inner) return Number(inner.doubleValue);
  if ('boolValue' in inner) return inner.boolValue;
  if ('bytesValue' in inner) return inner.bytesValue;
  if ('arrayValue' in inner) return (inner.arrayValue?.values ?? []).map(anyValue);
  if ('kvlistValue' in inner) return Object.fromEntries(attrs(inner.kvlistValue?.values));
  return '';
}

/** OTLP key-values as [[key, value]]. */
export function attrs(list) {
  return (list ?? []).map((kv) => [kv.key, anyValue(kv.value)]);
}

const big = (x) => BigInt(String(x ?? 0));

function kindOf(k) {
  if (typeof k === 'number') return KINDS[k] ?? 'unspecified';
  return String(k ?? '').replace('SPAN_KIND_', '').toLowerCase() || 'unspecified';
}

function statusOf(s) {
  const code = s?.code;
  const name = typeof code === 'number' ? ['unset', 'ok', 'error'][code] ?? 'unset' : String(code ?? 'unset').replace('STATUS_CODE_', '').toLowerCase();
  return { code: name, message: s?.message ?? '' };
}

/** Tempo's trace JSON (v1 `batches` or v2 `trace.resourceSpans`) to spans with times in ns. */
export function parseTrace(body) {
  const batches = body?.trace?.resourceSpans ?? body?.resourceSpans ?? body?.batches ?? [];
  const spans = [];
  for (const rs of batches) {
    const resource = attrs(rs.resource?.attributes);
    const service = resource.find(([k]) => k === 'service.name')?.[1] ?? 'unknown';
    for (const ss of rs.scopeSpans ?? rs.instrumentationLibrarySpans ?? []) {
      const scope = ss.scope ?? ss.instrumentationLibrary ?? {};
      for (const s of ss.spans ?? []) {
        const start = big(s.startTimeUnixNano), end = big(s.endTimeUnixNano);
        spans.push({
          id: hexId(s.spanId), parent: hexId(s.parentSpanId), traceId: hexId(s.traceId), name: s.name ?? '', service,
          kind: kindOf(s.kind), status: statusOf(s.status), start, end, duration: Number(end - start),
          attributes: attrs(s.attributes), resource, scope: [scope.name, scope.version].filter(Boolean).join(' '),
          events: (s.events ?? []).map((e) => ({ time: big(e.timeUnixNano), name: e.name, attributes: attrs(e.attributes) })),
          links: (s.links ?? []).map((l) => ({ traceId: hexId(l.traceId), spanId: hexId(l.spanId), attributes: attrs(l.attributes) })),
        });
      }
    }
  }
  return spans;
}

/** Spans in tree order (children by start time under their parent) with depth and child count. */
export function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent && byId.has(s.parent) && s.parent !== s.id) {
      if (!children.has(s.parent)) children.set(s.parent, []);
      children.get(s.parent).push(s);
    } else roots.push(s);
  }
  const byStart = (a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);
  const out = [], seen = new Set();
  const stack = roots.slice().reverse().map((s) => [s, 0]);
  while (stack.length) {
    const [s, depth] = stack.pop();
    if (seen.has(s.id)) continue;
    seen.add(s.id);
    const kids = children.get(s.id) ?? [];
    out.push({ span: s, depth, children: kids.length });
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
  }
  return out;
}
