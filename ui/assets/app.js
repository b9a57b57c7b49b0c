// Lookout's web UI: the shell and the page for each path.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './lib/html.js';
import { useLocation } from './lib/router.js';
import { MetricsPage } from './pages/metrics.js';
import { LogsPage } from './pages/logs.js';
import { TracesPage } from './pages/traces.js';
import { TracePage } from './pages/trace.js';
import { ServicesPage } from './pages/services.js';
import { DashboardsPage, DashboardPage } from './pages/dashboards.js';
import { AlertsPage } from './pages/alerts.js';
import { LoginPage } from './pages/login.js';
import { session } from './lib/api.js';

const NAV = [
  ['Explore', [['/explore/metrics', 'Metrics'], ['/explore/logs', 'Logs'], ['/explore/traces', 'Traces']]],
  ['Observe', [['/services', 'Services'], ['/dashboards', 'Dashboards'], ['/alerts', 'Alerts']]],
];

function page(path) {
  if (path === '/' || path === '/explore' || path === '/explore/metrics') return [MetricsPage, 'Metrics'];
  if (path === '/explore/logs') return [LogsPage, 'Logs'];
  if (path === '/explore/traces') return [TracesPage, 'Traces'];
  if (path.startsWith('/trace/')) return [TracePage, 'Trace'];
  if (path === '/services') return [ServicesPage, 'Services'];
  if (path === '/dashboards') return [DashboardsPage, 'Dashboards'];
  if (path.startsWith('/d/') || path === '/dashboards/new') return [DashboardPage, 'Dashboard'];
  if (path === '/alerts') return [AlertsPage, 'Alerts'];
  return [NotFound, 'Not found'];
}

function NotFound({ path }) {
  return html`<h1>Not found</h1><p>There is no page at <code>${path}</code>. <a href="/">Go to Explore</a>.</p>`;
}

/** Who is signed in: `undefined` while asking, `{auth: false}` when Lookout runs without
 * authentication, `{auth: true, tenant}` otherwise (`tenant` null when nobody is). */
function useSession() {
  const [who, setWho] = useState(undefined);
  useEffect(() => {
    session.get().then(setWho, () => setWho({ auth: false }));
    const signedOut = () => setWho((w) => (w?.auth ? { auth: true, tenant: null } : w));
    window.addEventListener('lookout:signed-out', signedOut);
    return () => window.removeEventListener('lookout:signed-out', signedOut);
  }, []);
  return [who, setWho];
}

function App() {
  const [who, setWho] = useSession();
  const { path, params } = useLocation();
  if (who === undefined) return html`<p class="loading">Loading Lookout…</p>`;
  if (who.auth && !who.tenant) {
    document.title = 'Sign in · Lookout';
    return html`<${LoginPage} onSignedIn=${setWho} />`;
  }
  const signOut = () => session.signOut().finally(() => setWho({ auth: true, tenant: null }));
  const [Page, title] = page(path);
  document.title = `${title} · Lookout`;
  const current = path === '/' || path === '/explore' ? '/explore/metrics' : path.startsWith('/trace/') ? '/explore/traces'
    : path.startsWith('/d/') ? '/dashboards' : path;
  return html`
    <div class="shell">
      <nav class="nav" aria-label="Main">
        <div class="brand"><img src="/ui/favicon.svg" width="20" height="20" alt="" />Lookout</div>
        ${NAV.map(([group, links]) => html`
          <div class="group">${group}</div>
          ${links.map(([to, label]) => html`<a href=${to} aria-current=${current === to ? 'page' : undefined}>${label}</a>`)}`)}
        ${who.auth && html`
          <div class="who">
            <span title="Tenant">${who.tenant}</span>
            <button type="button" class="link" onClick=${signOut}>Sign out</button>
          </div>`}
      </nav>
      <main><${Page} key=${path} path=${path} params=${params} /></main>
    </div>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
