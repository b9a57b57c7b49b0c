// Dashboard template variables: their options (label_values(...) or custom), the values chosen
// in the URL (var-<name>, as Grafana writes them), and substitution into queries.

import { prom } from './api.js';

const escapeRegex = (v) => String(v).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The options of a variable, with earlier variables already substituted into its query. */
export async function variableOptions(variable, substitute) {
  if (variable.type === 'custom') return variable.options ?? [];
  const q = substitute(String(variable.query ?? '').trim());
  const two = /^label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(q);
  const one = /^label_values\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(q);
  if (two) return prom.labelValues(two[2], two[1]);
  if (one) return prom.labelValues(one[1]);
  throw new Error(`variable ${variable.name}: only label_values(...) queries are supported, not "${q}"`);
}

/** The chosen values of a variable: from the URL, else its `current`, else All or the first option. */
export function chosen(variable, options, params) {
  const fromUrl = params.getAll(`var-${variable.name}`);
  if (fromUrl.length) return fromUrl;
  const current = variable.current;
  if (current !== null && current !== undefined && current !== '') return Array.isArray(current) ? current : [String(current)];
  if (variable.includeAll) return ['$__all'];
  return options.length ? [options[0]] : [];
}

/** A substitution function for `$name`, `${name}`, `${name:fmt}`, `[[name]]` and the macros. */
export function substituter(values, macros = {}) {
  const formatted = (name, fmt) => {
    if (name in macros) return macros[name];
    const v = values[name];
    if (!v) return undefined;
    const list = v.selected.includes('$__all') ? v.options : v.selected;
    if (fmt === 'raw' || fmt === 'text') return list.join(',');
    if (list.length === 1 && !v.selected.includes('$__all')) return fmt === 'regex' ? escapeRegex(list[0]) : list[0];
    if (list.length === 0) return '.*';
    return `(${list.map(escapeRegex).join('|')})`;
  };
  return (text) => String(text).replace(/\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a, fmt, b, c) => {
    const out = formatted(a ?? b ?? c, fmt);
    return out === undefined ? whole : out;
  });
}
