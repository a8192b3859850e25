import type { LogRecord } from '../../../controller/index.js';
import { followLines, isAbort } from './api.js';
import { fill, h } from './dom.js';
import { clock, ms } from './format.js';

/** Records the panel keeps (newest first). */
const KEEP = 500;

/**
 * The latest invocations of a function with their stdout and stderr, following live
 * (`GET /logs/:name?follow=1`), filtered by request id as one types.
 */
export class LogsPanel {
  readonly el: HTMLElement;
  #records: LogRecord[] = [];
  #list: HTMLElement;
  #status: HTMLElement;
  #search: HTMLInputElement;
  #abort = new AbortController();
  #stopped = false;
  #pending = false;

  constructor(
    readonly name: string,
    readonly onError: (err: unknown) => void,
  ) {
    this.#search = h('input', { type: 'search', id: 'log-search', placeholder: 'request id', autocomplete: 'off', spellcheck: 'false' });
    this.#search.addEventListener('input', () => this.#render());
    this.#status = h('p', { class: 'log-status', role: 'status' }, 'Connecting…');
    this.#list = h('ol', { class: 'log-list', id: 'log-list', 'aria-label': 'Invocations, newest first' });
    this.el = h('div', { class: 'logs' }, h('div', { class: 'log-tools' }, h('label', { for: 'log-search' }, 'Search by request id'), this.#search), this.#status, this.#list);
    void this.#follow();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort.abort();
  }

  async #follow(): Promise<void> {
    while (!this.#stopped) {
      try {
        this.#status.textContent = 'Following new invocations…';
        await followLines(`/logs/${encodeURIComponent(this.name)}?limit=50&follow=1`, this.#abort.signal, (r) => this.#add(r as LogRecord));
        if (this.#stopped) return;
        this.#status.textContent = 'The log stream ended (was the function deleted?). Reconnecting…';
      } catch (err) {
        if (this.#stopped || isAbort(err)) return;
        this.onError(err);
        this.#status.textContent = 'The log stream broke. Reconnecting…';
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  #add(record: LogRecord): void {
    if (this.#records.some((r) => r.id === record.id)) return;
    this.#records.unshift(record);
    if (this.#records.length > KEEP) this.#records.length = KEEP;
    // Many records at once (a burst, the first page): draw once.
    if (!this.#pending) {
      this.#pending = true;
      requestAnimationFrame(() => {
        this.#pending = false;
        this.#render();
      });
    }
  }

  #render(): void {
    const q = this.#search.value.trim().toLowerCase();
    const shown = q === '' ? this.#records.slice(0, 100) : this.#records.filter((r) => r.requestId.toLowerCase().includes(q));
    this.#status.textContent = `Following: ${this.#records.length} recent invocation(s) kept${q ? `, ${shown.length} match "${q}"` : ''}.`;
    fill(this.#list, ...shown.map(entry));
    if (shown.length === 0) fill(this.#list, h('li', { class: 'empty' }, q ? 'No invocation with that request id among the recent ones.' : 'No invocations yet.'));
  }
}

function entry(r: LogRecord): HTMLElement {
  const failed = r.statusCode >= 500;
  return h(
    'li',
    { class: 'log-entry', 'data-request-id': r.requestId },
    h(
      'div',
      { class: 'log-head' },
      h('time', { datetime: r.invokedAt }, clock(r.invokedAt)),
      h('code', { class: 'request-id' }, r.requestId),
      h('span', { class: `badge ${failed ? 'bad' : r.statusCode >= 400 ? 'warn' : 'ok'}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), String(r.statusCode)),
      h('span', {}, ms(r.durationMs)),
      r.coldStart ? h('span', { class: 'tag' }, 'cold start') : null,
      r.revision === null ? null : h('span', { class: 'tag' }, `r${r.revision}`),
    ),
    r.error ? h('p', { class: 'log-error' }, r.error) : null,
    r.stdout ? h('pre', { class: 'stdout', 'aria-label': 'stdout' }, r.stdout) : null,
    r.stderr ? h('pre', { class: 'stderr', 'aria-label': 'stderr' }, r.stderr) : null,
  );
}
