// A virtualised list: only the rows in view (and a few around them) are in the DOM, so ten
// thousand log lines or a five-thousand-span trace scroll smoothly. Rows have known heights.

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';

/** {count, height(i) → px, row(i, top) → vnode, maxHeight, className, label, scrollTo} */
export function VirtualList({ count, height, row, maxHeight = 600, className = '', label, scrollTo }) {
  const ref = useRef(null);
  const [view, setView] = useState({ top: 0, size: maxHeight });
  const offsets = useMemo(() => {
    const out = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) out[i + 1] = out[i] + height(i);
    return out;
  }, [count, height]);
  const total = offsets[count];

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return undefined;
    const onScroll = () => setView({ top: el.scrollTop, size: el.clientHeight || maxHeight });
    onScroll();
    el.addEventListener('scroll', onScroll, { passive: true });
    const ro = new ResizeObserver(onScroll);
    ro.observe(el);
    return () => { el.removeEventListener('scroll', onScroll); ro.disconnect(); };
  }, []);
  useEffect(() => {
    if (scrollTo !== undefined && scrollTo !== null && ref.current && scrollTo < count) {
      const top = offsets[scrollTo], el = ref.current;
      if (top < el.scrollTop || top > el.scrollTop + el.clientHeight - 30) el.scrollTop = Math.max(0, top - 60);
    }
  }, [scrollTo]);

  const first = Math.max(0, search(offsets, view.top) - 10);
  let last = first;
  while (last < count && offsets[last] < view.top + view.size + 300) last++;
  const rows = [];
  for (let i = first; i < last; i++) rows.push(row(i, offsets[i]));
  return html`
    <div class=${`vlist ${className}`} ref=${ref} style=${`max-height:${maxHeight}px;height:${Math.min(total, maxHeight) + 2}px`}
      role="list" aria-label=${label} data-count=${count}>
      <div class="spacer" style=${`height:${total}px`}>${rows}</div>
    </div>`;
}

function search(offsets, top) {
  let lo = 0, hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= top) lo = mid; else hi = mid - 1;
  }
  return lo;
}
