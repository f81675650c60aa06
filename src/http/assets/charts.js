/* global document, ResizeObserver */
// Small hand-written SVG charts for the dashboard: a per-minute line chart,
// a per-minute stacked bar chart and sparklines. No library, no network.
// Everything is built with DOM calls and textContent (never innerHTML), and
// colours are set through CSSOM, which the page's CSP allows.
const NS = 'http://www.w3.org/2000/svg';

export function svgEl(tag, attrs = {}, style = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  Object.assign(el.style, style);
  return el;
}

function niceScale(max) {
  if (!(max > 0)) return { top: 4, step: 1 };
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const nice = Math.max(1, step);
  return { top: Math.ceil(max / nice) * nice, step: nice };
}

const pad = (n) => String(n).padStart(2, '0');
/** 24-hour local time, HH:MM (or HH:MM:SS): incident notes are written that way. */
export const clock = (ms, seconds = false) => {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
};
/** YYYY-MM-DD HH:MM:SS local time. */
export const stamp = (ms) => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(ms, true)}`;
};
const fmt = (n) => Number(n).toLocaleString('en-US');

/**
 * A chart bound to a container. update({ times, series: [{ label, color, values, dashed? }], kind })
 * redraws it; kind is 'line' or 'stack'. Hovering shows the values of one minute.
 */
export function createChart(container, { kind = 'line', emptyText = 'No traffic in the last hour' } = {}) {
  const tooltip = document.createElement('div');
  tooltip.className = 'tooltip';
  tooltip.hidden = true;
  let data = null;
  let hover = null;
  let geometry = null;

  function draw() {
    container.replaceChildren(tooltip);
    if (!data) return;
    const width = Math.max(200, container.clientWidth);
    const height = Math.max(80, container.clientHeight);
    const m = { left: 38, right: 10, top: 10, bottom: 22 };
    const n = data.times.length;
    const plotW = width - m.left - m.right;
    const plotH = height - m.top - m.bottom;
    const sums = data.times.map((_, i) => data.series.reduce((s, x) => s + (x.values[i] ?? 0), 0));
    const max = kind === 'stack' ? Math.max(0, ...sums) : Math.max(0, ...data.series.flatMap((s) => s.values));
    const { top, step } = niceScale(max);
    const x = (i) => m.left + (n <= 1 ? plotW : (i * plotW) / (n - 1));
    const y = (v) => m.top + plotH - (v / top) * plotH;
    const svg = svgEl('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
    const axis = svgEl('g', { class: 'axis' });
    for (let v = 0; v <= top + 1e-9; v += step) {
      svg.append(svgEl('line', { class: v === 0 ? 'baseline' : 'gridline', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }));
      const label = svgEl('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' });
      label.textContent = v >= 1000 ? `${v / 1000}k` : String(v);
      axis.append(label);
    }
    data.times.forEach((t, i) => {
      const minute = new Date(t).getMinutes();
      if (minute % 15 !== 0 && i !== n - 1) return;
      if (i !== n - 1 && n - 1 - i < 6) return; // keep "now" legible
      const label = svgEl('text', { x: x(i), y: height - 5, 'text-anchor': i === n - 1 ? 'end' : 'middle' });
      label.textContent = i === n - 1 ? 'now' : clock(t);
      axis.append(label);
    });
    svg.append(axis);
    if (max === 0) {
      const empty = svgEl('text', { class: 'empty', x: m.left + plotW / 2, y: m.top + plotH / 2, 'text-anchor': 'middle' });
      empty.textContent = emptyText;
      svg.append(empty);
    }
    if (kind === 'stack') {
      const barW = Math.max(1, (plotW / Math.max(1, n)) * 0.7);
      const base = data.times.map(() => 0);
      for (const s of data.series) {
        s.values.forEach((v, i) => {
          if (!v) return;
          const cx = m.left + ((i + 0.5) * plotW) / n;
          svg.append(svgEl('rect', { x: cx - barW / 2, y: y(base[i] + v), width: barW, height: Math.max(1, y(base[i]) - y(base[i] + v)), rx: 1.5 }, { fill: s.color }));
          base[i] += v;
        });
      }
    } else {
      // The current minute is still filling up: its segment is drawn faint and dotted
      // so a partial count does not read as a sudden drop.
      const done = Math.max(1, n - 1);
      for (const s of data.series) {
        const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
        const line = { fill: 'none', 'stroke-width': 2, 'stroke-linejoin': 'round', 'stroke-linecap': 'round' };
        if (s.area) {
          svg.append(svgEl('polygon', { points: `${x(0)},${y(0)} ${pts.slice(0, done).join(' ')} ${x(done - 1)},${y(0)}` }, { fill: s.color, opacity: '0.08' }));
        }
        svg.append(svgEl('polyline', { points: pts.slice(0, done).join(' '), ...line, ...(s.dashed ? { 'stroke-dasharray': '5 4' } : {}) }, { stroke: s.color }));
        if (n > 1) {
          svg.append(svgEl('polyline', { points: pts.slice(done - 1).join(' '), ...line, 'stroke-dasharray': '2 4' }, { stroke: s.color, opacity: '0.55' }));
          svg.append(svgEl('circle', { cx: x(n - 1), cy: y(s.values[n - 1] ?? 0), r: 2.5 }, { fill: s.color, opacity: '0.7' }));
        }
      }
    }
    const cursor = svgEl('line', { class: 'cursor', y1: m.top, y2: m.top + plotH, visibility: 'hidden' });
    svg.append(cursor);
    const overlay = svgEl('rect', { x: m.left, y: m.top, width: plotW, height: plotH, fill: 'transparent' });
    overlay.addEventListener('mousemove', (event) => {
      const box = svg.getBoundingClientRect();
      hover = (event.clientX - box.left) * (width / box.width);
      showHover();
    });
    overlay.addEventListener('mouseleave', () => {
      hover = null;
      showHover();
    });
    svg.append(overlay);
    container.append(svg);
    geometry = { m, plotW, n, x, cursor, kind, width };
    showHover();
  }

  function showHover() {
    if (!geometry || hover === null || !data) {
      tooltip.hidden = true;
      geometry?.cursor.setAttribute('visibility', 'hidden');
      return;
    }
    const { m, plotW, n, x, cursor, width } = geometry;
    const i = Math.min(n - 1, Math.max(0, kind === 'stack' ? Math.floor(((hover - m.left) / plotW) * n) : Math.round(((hover - m.left) / plotW) * (n - 1))));
    const cx = kind === 'stack' ? m.left + ((i + 0.5) * plotW) / n : x(i);
    cursor.setAttribute('x1', cx);
    cursor.setAttribute('x2', cx);
    cursor.setAttribute('visibility', 'visible');
    const when = document.createElement('div');
    when.className = 'when';
    when.textContent = i === n - 1 ? `${clock(data.times[i])}–now (this minute so far)` : `${clock(data.times[i])}–${clock(data.times[i] + 60_000)}`;
    const rows = data.series.filter((s) => kind !== 'stack' || s.values[i]).map((s) => {
      const row = document.createElement('div');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = s.color;
      const b = document.createElement('b');
      b.textContent = fmt(s.values[i] ?? 0);
      row.append(sw, `${s.label} `, b);
      return row;
    });
    if (rows.length === 0) rows.push(Object.assign(document.createElement('div'), { textContent: 'none' }));
    tooltip.replaceChildren(when, ...rows);
    tooltip.hidden = false;
    const px = (cx / width) * container.clientWidth;
    const left = px + 12 + tooltip.offsetWidth > container.clientWidth ? px - 12 - tooltip.offsetWidth : px + 12;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = '4px';
  }

  new ResizeObserver(() => draw()).observe(container);
  return {
    update(next) {
      data = next;
      draw();
    },
  };
}

/** A minimal trend line in an existing <svg>, scaled to its own maximum. */
export function sparkline(svg, values, color) {
  const width = 120;
  const height = 30;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const n = values.length;
  const pts = values.map((v, i) => `${((i * width) / Math.max(1, n - 1)).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  svg.replaceChildren(
    svgEl('polygon', { points: `0,${height} ${pts.join(' ')} ${width},${height}` }, { fill: color, opacity: '0.12' }),
    svgEl('polyline', { points: pts.join(' '), fill: 'none', 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke' }, { stroke: color }),
  );
}
