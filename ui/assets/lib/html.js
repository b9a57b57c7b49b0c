// htm bound to preact's h, shared by every module.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
