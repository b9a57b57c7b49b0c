// The top of each Explore page: the query editor and its Run button, the time range, the
// page's own controls, and the query's error.

import { html } from '../lib/html.js';
import { QueryEditor, QueryError } from './editor.js';
import { TimePicker } from './timepicker.js';

/** `x` is the page's `useExplore` state; `children` go at the right of the time range. */
export function QueryBar({ x, label, placeholder, complete, error, showAuto = true, children }) {
  return html`
    <div class="card">
      <div class="toolbar">
        <${QueryEditor} label=${label} value=${x.draft} onChange=${x.setDraft} onRun=${() => x.run()} complete=${complete}
          placeholder=${placeholder} />
        <button class="primary" onClick=${() => x.run()}>Run query</button>
      </div>
      <div class="toolbar">
        <${TimePicker} range=${x.range} refresh=${x.refresh} onChange=${x.setRange} onRefresh=${x.rerun} showAuto=${showAuto} />
        <span class="grow"></span>
        ${children}
      </div>
      <${QueryError} error=${error} query=${x.q} />
    </div>`;
}
