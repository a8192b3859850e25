import type { LogRecord } from '../../../controller/index.js';
import { followLines, getJson, isAbort } from './api.js';
import { fill, h } from './dom.js';
import { clock, ms } from './format.js';

/** Records the panel keeps (newest first). */
const KEEP = 500;
/** Above this many requests a second, the panel reads the newest records each second instead of every record. */
const FOLLOW_MAX_RPS = 20;
/** Records read each second while sampling. */
const SAMPLE = 50;
/** Records shown without a search. */
const SHOWN = 100;

/**
 * The latest invocations of a function with their stdout and stderr, following live, filtered
 * by request id as one types. At a human pace it follows every record (`GET
 * /logs/:name?follow=1`); past {@link FOLLOW_MAX_RPS} requests a second nobody reads them all,
 * and streaming each one costs the runtime a database read and the browser a parse per
 * request, so it reads the newest {@link SAMPLE} each second instead (`GET /logs/:name?limit=`),
 * until the rate has been low for five seconds.
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
  /** Reading the newest records each second rather than following every one. */
  #sampling = false;
  #calmSeconds = 0;
  #rps = 0;
  /** The search the list shows, null when it shows a placeholder. */
  #shownQuery: string | null = null;

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

  /** The function's requests in the last second: switches between following and sampling. */
  observeRate(rps: number): void {
    this.#rps = rps;
    if (!this.#sampling && rps > FOLLOW_MAX_RPS) {
      this.#sampling = true;
      this.#calmSeconds = 0;
      this.#abort.abort();
      this.#abort = new AbortController();
    } else if (this.#sampling) {
      this.#calmSeconds = rps <= FOLLOW_MAX_RPS / 2 ? this.#calmSeconds + 1 : 0;
      if (this.#calmSeconds >= 5) this.#sampling = false;
    }
    if (this.#sampling) void this.#sample();
  }

  async #sample(): Promise<void> {
    try {
      const records = await getJson<LogRecord[]>(`/logs/${encodeURIComponent(this.name)}?limit=${SAMPLE}`, { signal: this.#abort.signal });
      for (const r of records.reverse()) this.#add(r);
    } catch (err) {
      if (!this.#stopped && !isAbort(err)) this.onError(err);
    }
  }

  async #follow(): Promise<void> {
    while (!this.#stopped) {
      if (this.#sampling) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      try {
        this.#status.textContent = 'Following new invocations…';
        await followLines(`/logs/${encodeURIComponent(this.name)}?limit=${SAMPLE}&follow=1`, this.#abort.signal, (r) => this.#add(r as LogRecord));
        if (this.#stopped) return;
        this.#status.textContent = 'The log stream ended (was the function deleted?). Reconnecting…';
      } catch (err) {
        if (this.#stopped) return;
        // Aborted to sample instead: the loop waits until the rate is low again.
        if (isAbort(err)) continue;
        this.onError(err);
        this.#status.textContent = 'The log stream broke. Reconnecting…';
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  #add(record: LogRecord): void {
    const newest = this.#records[0];
    if (newest !== undefined && record.id <= newest.id) return;
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
    const how = this.#sampling
      ? `${Math.round(this.#rps)} requests a second: showing the newest ${SAMPLE} each second`
      : 'Following every invocation live';
    const shown = q === '' ? this.#records.slice(0, SHOWN) : this.#records.filter((r) => r.requestId.toLowerCase().includes(q));
    this.#status.textContent = `${how}; ${this.#records.length} recent invocation(s) kept${q ? `, ${shown.length} match "${q}"` : ''}.`;
    if (shown.length === 0) {
      this.#shownQuery = null;
      fill(this.#list, h('li', { class: 'empty' }, q ? 'No invocation with that request id among the recent ones.' : 'No invocations yet.'));
      return;
    }
    const top = this.#list.firstElementChild?.getAttribute('data-id');
    if (q === '' && this.#shownQuery === '' && top !== null && top !== undefined) {
      // New records on top of what is shown: add those, drop the oldest (no redraw of the rest).
      const newer = shown.filter((r) => r.id > Number(top));
      this.#list.prepend(...newer.map(entry));
      while (this.#list.children.length > SHOWN) this.#list.lastElementChild!.remove();
    } else fill(this.#list, ...shown.map(entry));
    this.#shownQuery = q;
  }
}

function entry(r: LogRecord): HTMLElement {
  const failed = r.statusCode >= 500;
  return h(
    'li',
    { class: 'log-entry', 'data-request-id': r.requestId, 'data-id': r.id },
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
