// A small history-API router: the URL (path and query) is the state of every page, so links,
// reloads and the back button all work.

import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

/** Go to a URL inside the app; `replace` rewrites the current history entry instead. */
export function navigate(url, replace = false) {
  if (url === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  listeners.forEach((f) => f());
}

/** The current location as {path, params}; re-renders the caller when it changes. */
export function useLocation() {
  const read = () => ({ path: location.pathname, params: new URLSearchParams(location.search) });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const update = () => setLoc(read());
    listeners.add(update);
    addEventListener('popstate', update);
    return () => { listeners.delete(update); removeEventListener('popstate', update); };
  }, []);
  return loc;
}

/** The current URL with some query parameters set (or removed when null/empty). */
export function withParams(changes, path = location.pathname) {
  const params = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') params.delete(k); else params.set(k, v);
  }
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

/** A URL for a path and parameters. */
export function href(path, params = {}) {
  const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  return s ? `${path}?${s}` : path;
}

// Same-origin links are handled by the router rather than by a page load.
addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest?.('a[href]');
  if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
  if (a.pathname.startsWith('/api/') || a.pathname.startsWith('/loki/')) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
});
