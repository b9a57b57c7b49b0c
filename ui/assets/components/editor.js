// The query editor: a text area with completion of metric names, labels and values from the
// server, Enter to run (Shift+Enter for a new line), and query errors shown where they point.

import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../lib/html.js';

/** Where a server's error message points in the query: {line, col} (1-based) or null. */
export function errorPosition(message) {
  const m = /(?:^|[^\d])(\d+):(\d+)(?::|\s|$)/.exec(message) || /line (\d+),? col(?:umn)? (\d+)/i.exec(message);
  if (m) return { line: Number(m[1]), col: Number(m[2]) };
  const p = /(?:position|pos|offset|col(?:umn)?)\s*(\d+)/i.exec(message);
  return p ? { line: 1, col: Number(p[1]) + 1 } : null;
}

/** The error under the editor, with the line it points into and a caret under the place. */
export function QueryError({ error, query }) {
  if (!error) return null;
  const pos = errorPosition(error);
  const line = pos ? query.split('\n')[pos.line - 1] : undefined;
  return html`
    <div class="query-error" role="alert">
      ${error}
      ${line !== undefined && pos.col <= line.length + 1 && html`
        <pre class="caret" aria-label="where the error is">${line}\n${' '.repeat(Math.max(0, pos.col - 1))}<b>^</b></pre>`}
    </div>`;
}

/** {value, onChange, onRun, complete(before) → Promise<{from, items}>|null, placeholder, label} */
export function QueryEditor({ value, onChange, onRun, complete, placeholder, label = 'Query', rows = 1 }) {
  const ref = useRef(null);
  const [menu, setMenu] = useState(null);
  const request = useRef(0);

  const ask = async () => {
    const el = ref.current;
    if (!complete || !el) return;
    const id = ++request.current;
    const before = el.value.slice(0, el.selectionStart);
    const result = await complete(before).catch(() => null);
    if (id !== request.current) return;
    setMenu(result && result.items.length ? { ...result, selected: 0 } : null);
  };
  const accept = (item) => {
    const el = ref.current;
    const text = el.value, at = el.selectionStart;
    const next = text.slice(0, menu.from) + item.insert + text.slice(at);
    onChange(next);
    setMenu(null);
    const caret = menu.from + item.insert.length;
    requestAnimationFrame(() => { el.focus(); el.setSelectionRange(caret, caret); ask(); });
  };
  const onKeyDown = (e) => {
    if (menu) {
      if (e.key === 'ArrowDown') { e.preventDefault(); setMenu({ ...menu, selected: (menu.selected + 1) % menu.items.length }); return; }
      if (e.key === 'ArrowUp') { e.preventDefault(); setMenu({ ...menu, selected: (menu.selected - 1 + menu.items.length) % menu.items.length }); return; }
      if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey)) { e.preventDefault(); accept(menu.items[menu.selected]); return; }
      if (e.key === 'Escape') { e.preventDefault(); setMenu(null); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); setMenu(null); onRun?.(); }
  };
  useEffect(() => {
    const close = (e) => { if (!ref.current?.parentElement.contains(e.target)) setMenu(null); };
    addEventListener('mousedown', close);
    return () => removeEventListener('mousedown', close);
  }, []);
  return html`
    <div class="editor">
      <textarea ref=${ref} rows=${rows} value=${value} placeholder=${placeholder} aria-label=${label} spellcheck="false"
        autocomplete="off" aria-autocomplete="list" aria-expanded=${menu ? 'true' : 'false'}
        onInput=${(e) => { onChange(e.target.value); ask(); }} onKeyDown=${onKeyDown}
        onBlur=${() => setTimeout(() => setMenu(null), 150)} />
      ${menu && html`
        <ul class="completions" role="listbox" aria-label="Completions">
          ${menu.items.slice(0, 200).map((item, i) => html`
            <li role="option" aria-selected=${i === menu.selected ? 'true' : 'false'}
              onMouseDown=${(e) => { e.preventDefault(); accept(item); }}>
              <span>${item.label}</span><span class="kind">${item.kind}</span></li>`)}
        </ul>`}
    </div>`;
}
