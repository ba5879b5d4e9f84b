/**
 * A hand-rolled SVG line chart: startup latency percentiles (p50, p95, p99, max) against the
 * number of worlds, x on a log scale. Fixed size, fixed colours, numbers rounded: the same
 * results always give the same bytes.
 */

export interface LatencyPoint {
  worlds: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const W = 640;
const H = 400;
const M = { left: 64, right: 120, top: 40, bottom: 56 };
const SERIES = [
  { key: 'p50', color: '#2b6cb0' },
  { key: 'p95', color: '#38a169' },
  { key: 'p99', color: '#dd6b20' },
  { key: 'max', color: '#c53030' },
] as const;

const FLOOR_SERIES = [
  { key: 'p50', color: '#90cdf4' },
  { key: 'p99', color: '#fbd38d' },
] as const;

const f = (v: number) => Number(v.toFixed(1)).toString();
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A "nice" upper bound for the y axis and its tick step. */
function niceScale(max: number): { top: number; step: number } {
  const raw = Math.max(max, 0.1) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { top: Math.ceil(Math.max(max, 0.1) / step) * step, step };
}

/** `floor`: the control plane's floor at the same world counts, drawn dashed (p50 and p99). */
export function latencyChart(points: readonly LatencyPoint[], title: string, target?: { seconds: number; label: string }, floor: readonly LatencyPoint[] = []): string {
  const pts = [...points].sort((a, b) => a.worlds - b.worlds);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const xs = pts.map((p) => Math.log10(p.worlds));
  const xMin = Math.floor(Math.min(...xs, 2));
  const xMax = Math.ceil(Math.max(...xs, xMin + 1));
  const x = (worlds: number) => M.left + ((Math.log10(worlds) - xMin) / (xMax - xMin)) * plotW;
  const yMaxData = Math.max(...pts.map((p) => p.max), ...floor.map((p) => p.max), target?.seconds ?? 0);
  const { top, step } = niceScale(yMaxData);
  const y = (s: number) => M.top + plotH - (s / top) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // Grid and axes.
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(`<line x1="${M.left}" y1="${f(y(v))}" x2="${M.left + plotW}" y2="${f(y(v))}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${M.left - 8}" y="${f(y(v) + 4)}" text-anchor="end">${f(v)}</text>`);
  }
  for (let e = xMin; e <= xMax; e++) {
    const px = f(x(10 ** e));
    out.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + plotH}" stroke="#e2e8f0"/>`);
    out.push(`<text x="${px}" y="${M.top + plotH + 18}" text-anchor="middle">${(10 ** e).toLocaleString('en-US')}</text>`);
  }
  out.push(`<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="#4a5568"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="#4a5568"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 14}" text-anchor="middle">WorldInstances created (log scale)</text>`);
  out.push(`<text x="16" y="${M.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${M.top + plotH / 2})">creation to Running (s)</text>`);
  if (target) {
    out.push(`<line x1="${M.left}" y1="${f(y(target.seconds))}" x2="${M.left + plotW}" y2="${f(y(target.seconds))}" stroke="#718096" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${M.left + plotW - 4}" y="${f(y(target.seconds) - 6)}" text-anchor="end" fill="#4a5568">${esc(target.label)}</text>`);
  }
  // Series and legend.
  SERIES.forEach((s, i) => {
    const path = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${f(x(p.worlds))} ${f(y(p[s.key]))}`).join(' ');
    if (pts.length > 1) out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of pts) out.push(`<circle cx="${f(x(p.worlds))}" cy="${f(y(p[s.key]))}" r="3.5" fill="${s.color}"><title>${s.key} ${p[s.key]} s at ${p.worlds} worlds</title></circle>`);
    const ly = M.top + 10 + i * 20;
    out.push(`<line x1="${W - M.right + 16}" y1="${ly}" x2="${W - M.right + 40}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">${s.key}</text>`);
  });
  const fl = [...floor].sort((a, b) => a.worlds - b.worlds);
  FLOOR_SERIES.forEach((s, i) => {
    if (fl.length > 1) out.push(`<path d="${fl.map((p, j) => `${j === 0 ? 'M' : 'L'}${f(x(p.worlds))} ${f(y(p[s.key]))}`).join(' ')}" fill="none" stroke="${s.color}" stroke-width="2" stroke-dasharray="5 4"/>`);
    for (const p of fl) out.push(`<rect x="${f(x(p.worlds) - 3)}" y="${f(y(p[s.key]) - 3)}" width="6" height="6" fill="${s.color}"><title>floor ${s.key} ${p[s.key]} s at ${p.worlds} worlds</title></rect>`);
    if (fl.length) {
      const ly = M.top + 10 + (SERIES.length + i) * 20;
      out.push(`<line x1="${W - M.right + 16}" y1="${ly}" x2="${W - M.right + 40}" y2="${ly}" stroke="${s.color}" stroke-width="2" stroke-dasharray="5 4"/>`);
      out.push(`<text x="${W - M.right + 46}" y="${ly + 4}">floor ${s.key}</text>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
