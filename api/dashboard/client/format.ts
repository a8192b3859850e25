import type { FunctionInfo } from '../../../controller/index.js';
import { h } from './dom.js';

/** A count or rate with at most two decimals, '–' for nothing. */
export function num(value: number | null | undefined, digits = 2): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return String(Math.round(value * 10 ** digits) / 10 ** digits);
}

/** Milliseconds, shortened to seconds from 1 s on. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (value >= 1000) return `${num(value / 1000, 2)} s`;
  return `${num(value, value < 10 ? 2 : 0)} ms`;
}

/** A share (0..1) as a percentage. */
export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return `${num(value * 100, 1)} %`;
}

/** Bytes in MiB. */
export function mib(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '–';
  return `${num(bytes / 1048576, 1)} MiB`;
}

/** How long ago an ISO time was, roughly. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** A local time of day with seconds. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString([], { hour12: false });
}

/** Seconds as "1h 2m". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

/** The phases a function can be in, each with its colour class: the word is always shown beside the colour. */
const PHASE_CLASSES: Record<string, string> = { Ready: 'ok', Degraded: 'warn', Failed: 'bad', Pending: 'idle', Terminating: 'idle' };

/** A status badge: a coloured dot and the phase's word, never the colour alone. */
export function phaseBadge(phase: string): HTMLElement {
  return h('span', { class: `badge ${PHASE_CLASSES[phase] ?? 'idle'}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), phase);
}

/** A condition's status as a badge: True, False or Unknown in words. */
export function conditionBadge(status: string): HTMLElement {
  const cls = status === 'True' ? 'ok' : status === 'False' ? 'bad' : 'idle';
  return h('span', { class: `badge ${cls}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), status);
}

/** The Ready condition's reason and message, as one line. */
export function readyCondition(info: FunctionInfo): string {
  const ready = info.status.conditions.find((c) => c.type === 'Ready');
  return ready ? `${ready.reason}: ${ready.message}` : 'not reconciled yet';
}
