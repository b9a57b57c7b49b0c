// Charts on uPlot: time series with a legend (hover values, click to hide a series), exemplars as
// dots that open their trace, and a scatter of points (trace durations over time).

import { useEffect, useRef } from 'preact/hooks';
import { html } from '../lib/html.js';
import { colour, formatValue } from '../lib/format.js';

/** Aligns [{points: [[ms, v]]}] on one sorted time axis (seconds), as uPlot wants. */
export function align(series) {
  const times = new Set();
  for (const s of series) for (const [t] of s.points) times.add(t);
  const xs = Float64Array.from(times).sort();
  const index = new Map();
  xs.forEach((t, i) => index.set(t, i));
  const columns = series.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const [t, v] of s.points) col[index.get(t)] = Number.isFinite(v) ? v : null;
    return col;
  });
  return [Array.from(xs, (t) => t / 1000), ...columns];
}

function nearest(u, points, x, y, radius = 9) {
  let best = null, bestD = radius * radius;
  for (const p of points) {
    const px = u.valToPos(p.t / 1000, 'x'), py = u.valToPos(p.v, 'y');
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d <= bestD) { best = p; bestD = d; }
  }
  return best;
}

/**
 * A chart. `series`: [{name, points: [[ms, value]], colour?}]; `mode`: "line" or "points";
 * `dots`: extra clickable dots [{t, v, title}] drawn on top (exemplars); `onDot(dot)`; `range`:
 * [start, end] in ms for the time axis; `fit`: plot and legend together fill `height`.
 */
export function Chart({ series, unit = '', height = 260, mode = 'line', dots = [], onDot, yLabel, legend = true, stacked = false, range, fit = false }) {
  const ref = useRef(null);
  const plot = useRef(null);
  const state = useRef({ dots, onDot });
  state.current = { dots, onDot };

  useEffect(() => {
    const el = ref.current;
    if (!el || !window.uPlot) return undefined;
    const data = align(series);
    const width = Math.max(200, el.clientWidth || 600);
    const points = mode === 'points';
    const opts = {
      width, height,
      legend: { show: legend, live: !points },
      cursor: { focus: { prox: 30 }, points: { size: 6 } },
      focus: { alpha: 0.4 },
      scales: { x: range ? { time: true, range: () => [range[0] / 1000, range[1] / 1000] } : { time: true } },
      axes: [
        { stroke: '#5f6b7a', grid: { stroke: '#eef0f3' } },
        { stroke: '#5f6b7a', grid: { stroke: '#eef0f3' }, size: 64, label: yLabel, values: (u, vals) => vals.map((v) => formatValue(v, unit)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.name,
          stroke: s.colour ?? colour(i),
          fill: stacked ? (s.colour ?? colour(i)) + '55' : undefined,
          width: points ? 0 : 1.5,
          spanGaps: false,
          paths: points ? () => null : undefined,
          points: points ? { show: true, size: 7, fill: s.colour ?? colour(i), stroke: s.colour ?? colour(i) } : { show: false },
          value: (u, v) => formatValue(v, unit),
        })),
      ],
      hooks: {
        draw: [(u) => {
          const { dots: ds } = state.current;
          if (!ds.length) return;
          const ctx = u.ctx, r = 4 * devicePixelRatio;
          ctx.save();
          for (const d of ds) {
            const x = u.valToPos(d.t / 1000, 'x', true), y = u.valToPos(d.v, 'y', true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.fillStyle = d.colour ?? '#0b1f3a';
            ctx.arc(x, y, r, 0, 2 * Math.PI);
            ctx.fill();
          }
          ctx.restore();
        }],
      },
    };
    const u = new window.uPlot(opts, data, el);
    plot.current = u;
    // The legend sits under the plot; within a fixed height (a dashboard panel) the plot gives way.
    const legendHeight = () => (fit ? u.root.querySelector('.u-legend')?.offsetHeight ?? 0 : 0);
    if (fit) u.setSize({ width, height: Math.max(60, height - legendHeight()) });
    const onClick = (e) => {
      const { dots: ds, onDot: handler } = state.current;
      if (!handler) return;
      const rect = u.over.getBoundingClientRect();
      const x = e.clientX - rect.left, y = e.clientY - rect.top;
      let hit = nearest(u, ds, x, y);
      if (!hit && points) {
        const all = [];
        series.forEach((s) => s.points.forEach(([t, v], i) => all.push({ t, v, ...(s.meta?.[i] ?? {}) })));
        hit = nearest(u, all, x, y);
      }
      if (hit) handler(hit);
    };
    const onMove = (e) => {
      const { dots: ds } = state.current;
      const rect = u.over.getBoundingClientRect();
      const hit = nearest(u, ds, e.clientX - rect.left, e.clientY - rect.top);
      u.over.style.cursor = hit || points ? 'pointer' : '';
      u.over.title = hit?.title ?? '';
    };
    u.over.addEventListener('click', onClick);
    u.over.addEventListener('mousemove', onMove);
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: Math.max(60, height - legendHeight()) });
    });
    ro.observe(el);
    return () => { ro.disconnect(); u.destroy(); plot.current = null; };
  }, [series, unit, height, mode, legend, range?.[0], range?.[1], fit]);

  useEffect(() => { plot.current?.redraw(false); }, [dots]);

  return html`<div class="chart" ref=${ref} data-series=${series.length} data-dots=${dots.length}
    role="img" aria-label=${`chart of ${series.length} series`}></div>`;
}

/** Series from a query result, named by a legend template. */
export function named(series, legendFor, template) {
  return series.map((s) => ({ ...s, name: legendFor(template, s.labels) }));
}
