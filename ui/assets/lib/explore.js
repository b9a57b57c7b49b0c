// What the explore pages share: the query, range and refresh kept in the URL.

import { useEffect, useRef, useState } from 'preact/hooks';
import { navigate, withParams } from './router.js';
import { resolveRange } from './time.js';

/** The explore state from the URL, a draft of the query, and `run` to write the draft back. */
export function useExplore(params, defaults = {}) {
  const q = params.get('q') ?? defaults.q ?? '';
  const range = { from: params.get('from') || defaults.from || 'now-1h', to: params.get('to') || 'now' };
  const refresh = params.get('refresh') ?? '';
  const [draft, setDraft] = useState(q);
  const [runs, setRuns] = useState(0);
  // A new query in the URL (a link, back, forward) replaces the draft; the first render keeps
  // whatever was typed before effects ran.
  const shown = useRef(q);
  useEffect(() => {
    if (shown.current !== q) { shown.current = q; setDraft(q); }
  }, [q]);
  const run = (changes = {}) => {
    navigate(withParams({ q: draft, ...changes }));
    setRuns((n) => n + 1);
  };
  const setRange = ({ from, to, refresh: r }) => navigate(withParams({ from, to, refresh: r }));
  return { q, range, refresh, draft, setDraft, run, runs, rerun: () => setRuns((n) => n + 1), setRange, resolved: () => resolveRange(range) };
}

/**
 * Runs `work(range)` when the query, the range or `deps` change, or the page runs it again:
 * {status: "idle" | "loading" | "done" | "error", took, ...what work returned}. An answer that
 * comes after a newer question was asked is dropped. `when` false leaves the state idle.
 */
export function useQueryRun(x, deps, work, when = x.q.trim() !== '') {
  const [state, setState] = useState({ status: 'idle' });
  useEffect(() => {
    if (!when) { setState({ status: 'idle' }); return undefined; }
    const r = x.resolved();
    if (r.error) { setState({ status: 'error', error: r.error }); return undefined; }
    let live = true;
    const began = performance.now();
    setState((s) => ({ ...s, status: 'loading' }));
    work(r)
      .then((result) => live && setState({ status: 'done', took: Math.round(performance.now() - began), ...result }))
      .catch((e) => live && setState({ status: 'error', error: e.message }));
    return () => { live = false; };
  }, [x.q, x.range.from, x.range.to, x.runs, when, ...deps]);
  return state;
}
