import uPlot from 'uplot';
import { h } from './dom.js';
import type { RollingWindow } from './rolling.js';

/** One line (or bars) of a chart: a column of a rolling window. */
export interface Line<K extends string> {
  key: K;
  label: string;
  color: string;
  dash?: number[];
  /** Bars instead of a line (counts per second). */
  bars?: boolean;
  /** A stepped line (replica counts change in steps). */
  stepped?: boolean;
  /** How a value reads in the caption and legend. */
  format?: (v: number) => string;
}

/** What a chart shows. */
export interface ChartSpec<K extends string> {
  id: string;
  title: string;
  /** The y axis' unit, in the axis label. */
  unit: string;
  lines: ReadonlyArray<Line<K>>;
  /** A 0/1 column whose 1s shade the plot (the autoscaler's panic mode). */
  shade?: { key: K; label: string };
  /** A log scale (latency). */
  log?: boolean;
}

const HEIGHT = 190;

/**
 * A live uPlot chart of a rolling window, drawn again at each poll. Its figure carries the
 * latest and highest value of each line as data attributes and a text caption (for screen
 * readers, and for the browser test to read what the canvas shows).
 */
export class LiveChart<K extends string> {
  readonly el: HTMLElement;
  #plot: uPlot | null = null;
  #spec: ChartSpec<K>;
  #caption: HTMLElement;
  #area: HTMLElement;
  #shade: Array<number | null> = [];
  #xMin = 0;
  #resize: ResizeObserver;

  constructor(spec: ChartSpec<K>) {
    this.#spec = spec;
    this.#caption = h('span', { class: 'chart-now' });
    this.#area = h('div', { class: 'chart-area', 'aria-hidden': 'true' });
    this.el = h(
      'figure',
      { class: 'chart', id: `chart-${spec.id}`, 'data-points': 0, 'aria-labelledby': `chart-${spec.id}-caption` },
      h('figcaption', { id: `chart-${spec.id}-caption` }, h('span', { class: 'chart-title' }, spec.title), ' ', this.#caption),
      this.#area,
    );
    this.#resize = new ResizeObserver(() => this.#plot?.setSize({ width: this.#width(), height: HEIGHT }));
    this.#resize.observe(this.#area);
  }

  /** Draws the window's current columns from `xMin` (a second) on. */
  update(window: RollingWindow<K>, xMin: number): void {
    this.#xMin = xMin;
    const spec = this.#spec;
    const data: uPlot.AlignedData = [window.time, ...spec.lines.map((l) => window.columns[l.key])];
    this.#shade = spec.shade ? window.columns[spec.shade.key] : [];
    if (!this.#plot) this.#plot = new uPlot(this.#options(), data, this.#area);
    else this.#plot.setData(data);
    this.#describe(window);
  }

  destroy(): void {
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = null;
  }

  #width(): number {
    return Math.max(240, Math.floor(this.#area.clientWidth || 600));
  }

  #describe(window: RollingWindow<K>): void {
    const parts: string[] = [];
    this.el.dataset['points'] = String(window.time.length);
    for (const line of this.#spec.lines) {
      const column = window.columns[line.key];
      let last: number | null = null;
      let max: number | null = null;
      for (let i = column.length - 1; i >= 0; i--) {
        const v = column[i];
        if (v === null || v === undefined) continue;
        if (last === null) last = v;
        if (max === null || v > max) max = v;
      }
      this.el.dataset[`last${cap(line.key)}`] = last === null ? '' : String(last);
      this.el.dataset[`max${cap(line.key)}`] = max === null ? '' : String(max);
      parts.push(`${line.label} ${last === null ? '–' : (line.format ?? String)(last)}`);
    }
    if (this.#spec.shade) {
      const on = this.#shade[this.#shade.length - 1] === 1;
      const seen = this.#shade.some((v) => v === 1);
      this.el.dataset['shade'] = on ? 'on' : seen ? 'seen' : 'off';
      if (on) parts.push(`${this.#spec.shade.label} now`);
      else if (seen) parts.push(`${this.#spec.shade.label} earlier (shaded)`);
    }
    this.#caption.textContent = `now: ${parts.join(' · ')}`;
  }

  #options(): uPlot.Options {
    const spec = this.#spec;
    const shadeHook = (u: uPlot) => {
      const shade = this.#shade;
      if (!shade.some((v) => v === 1)) return;
      const time = u.data[0];
      const { ctx, bbox } = u;
      ctx.save();
      ctx.fillStyle = 'rgba(214, 69, 65, 0.13)';
      for (let i = 0; i < shade.length; i++) {
        if (shade[i] !== 1) continue;
        const x0 = u.valToPos(time[i]!, 'x', true);
        const x1 = u.valToPos(time[i]! + 1, 'x', true);
        ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
      }
      ctx.restore();
    };
    return {
      width: this.#width(),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true, live: true },
      scales: { x: { time: true, range: (_u, min, max) => [Math.max(min, this.#xMin), max] }, y: spec.log ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: '#444' }, { stroke: '#444', label: spec.unit, size: 56, labelSize: 18 }],
      series: [
        { label: 'time' },
        ...spec.lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: l.bars ? 1 : 2,
          dash: l.dash,
          fill: l.bars ? `${l.color}aa` : undefined,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : (l.format ?? String)(v)),
          paths: l.bars ? uPlot.paths.bars!({ size: [0.8, 12] }) : l.stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined,
        })),
      ],
      hooks: { drawClear: [shadeHook] },
    };
  }
}

/** Ranges the charts of a page can show. */
const RANGES: ReadonlyArray<[string, number]> = [
  ['15 min', 900],
  ['5 min', 300],
  ['1 min', 60],
];

/** Buttons choosing how much of the 15 minutes the charts show; calls `onChange` with seconds. */
export function rangePicker(onChange: (seconds: number) => void): HTMLElement {
  const buttons = RANGES.map(([label, seconds]) => {
    const b = h('button', { type: 'button', class: 'range', 'aria-pressed': seconds === 900 ? 'true' : 'false', 'data-seconds': seconds }, label);
    b.addEventListener('click', () => {
      for (const other of buttons) other.setAttribute('aria-pressed', other === b ? 'true' : 'false');
      onChange(seconds);
    });
    return b;
  });
  return h('div', { class: 'ranges', role: 'group', 'aria-label': 'Time range of the charts' }, h('span', {}, 'Show the last'), ...buttons);
}

function cap(key: string): string {
  return key.charAt(0).toUpperCase() + key.slice(1);
}
