/**
 * The eval plot (`ifprune eval --plot out.svg`): response perplexity relative to dense against FFN
 * density, one panel per domain in a grid, one line per policy, a shared legend. A pure function of the
 * rows, returning SVG text; no dependencies.
 *
 *   x  density, 0 .. 1 (linear; dense is the point (1, 1), and every policy's line ends there, since at
 *      density 1 each keeps all neurons)
 *   y  ppl / dense ppl, log scale, per panel (a poor policy must not flatten the others)
 * Each policy is one <polyline> per panel (dense: the dashed reference line y = 1), its measured points
 * <circle>s; axes, grid and legend swatches are <line>s, so the lines can be counted.
 */
import { POLICIES, type EvalRow, type Policy } from './eval.ts';

export interface PlotOptions {
  /** Panel size in px (default 300 × 220). */
  panelWidth?: number;
  panelHeight?: number;
  /** Panels per row (default: up to 3). */
  columns?: number;
  title?: string;
}

/** One colour per policy, the same in every panel (colour-blind-safe Tableau 10 order). */
export const POLICY_COLORS: Record<Policy, string> = {
  dense: '#555555',
  static: '#d62728',
  prompt: '#ff7f0e',
  learned: '#1f77b4',
  oracle: '#2ca02c',
  random: '#9467bd',
};

const MARGIN = { left: 50, right: 14, top: 30, bottom: 40 };
const LEGEND_HEIGHT = 28;
const TITLE_HEIGHT = 26;

export function plotSvg(rows: readonly EvalRow[], opts: PlotOptions = {}): string {
  const pw = opts.panelWidth ?? 300;
  const ph = opts.panelHeight ?? 220;
  const domains = [...new Set(rows.map((r) => r.domain))];
  const policies = POLICIES.filter((p) => rows.some((r) => r.policy === p));
  const cols = Math.max(1, Math.min(opts.columns ?? 3, domains.length));
  const gridRows = Math.max(1, Math.ceil(domains.length / cols));
  const top = (opts.title ? TITLE_HEIGHT : 0) + LEGEND_HEIGHT;
  const width = cols * pw;
  const height = top + gridRows * ph;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (opts.title) out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${xml(opts.title)}</text>`);

  // --- legend: one swatch per policy
  const legendY = top - LEGEND_HEIGHT / 2;
  let lx = MARGIN.left;
  for (const p of policies) {
    out.push(`<line x1="${lx}" y1="${legendY}" x2="${lx + 20}" y2="${legendY}" stroke="${POLICY_COLORS[p]}" stroke-width="2"${p === 'dense' ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${lx + 25}" y="${legendY + 4}">${p}</text>`);
    lx += 35 + 7 * p.length + 12;
  }

  domains.forEach((domain, i) => {
    const ox = (i % cols) * pw;
    const oy = top + Math.floor(i / cols) * ph;
    out.push(panel(rows.filter((r) => r.domain === domain), domain, policies, ox, oy, pw, ph));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One domain's panel at (ox, oy). */
function panel(rows: EvalRow[], domain: string, policies: readonly Policy[], ox: number, oy: number, pw: number, ph: number): string {
  const x0 = ox + MARGIN.left;
  const x1 = ox + pw - MARGIN.right;
  const y0 = oy + ph - MARGIN.bottom; // bottom of the plot area
  const y1 = oy + MARGIN.top;
  const dense = rows.find((r) => r.policy === 'dense');
  const ok = (r: EvalRow) => Number.isFinite(r.pplRatio) && r.pplRatio > 0;
  const ratios = rows.filter(ok).map((r) => r.pplRatio);
  let lo = Math.min(1, ...ratios);
  let hi = Math.max(1, ...ratios);
  if (hi / lo < 1.2) hi = lo * 1.2;
  lo /= 1.04;
  hi *= 1.04;
  const sx = (d: number) => x0 + d * (x1 - x0);
  const sy = (r: number) => y0 - ((Math.log(r) - Math.log(lo)) / (Math.log(hi) - Math.log(lo))) * (y0 - y1);
  const f = (n: number) => n.toFixed(1);

  const s: string[] = [`<g>`];
  const title = dense ? `${domain}  (dense ppl ${dense.ppl.toPrecision(3)})` : domain;
  s.push(`<text x="${f((x0 + x1) / 2)}" y="${oy + MARGIN.top - 10}" text-anchor="middle" font-size="12">${xml(title)}</text>`);
  // --- grid and axes
  for (const d of [0, 0.25, 0.5, 0.75, 1]) {
    s.push(`<line x1="${f(sx(d))}" y1="${y1}" x2="${f(sx(d))}" y2="${y0}" stroke="#e6e6e6"/>`);
    s.push(`<text x="${f(sx(d))}" y="${y0 + 14}" text-anchor="middle">${d}</text>`);
  }
  for (const t of logTicks(lo, hi)) {
    s.push(`<line x1="${x0}" y1="${f(sy(t))}" x2="${x1}" y2="${f(sy(t))}" stroke="#e6e6e6"/>`);
    s.push(`<text x="${x0 - 4}" y="${f(sy(t) + 4)}" text-anchor="end">${tickLabel(t)}×</text>`);
  }
  s.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#000000"/>`);
  s.push(`<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#000000"/>`);
  s.push(`<text x="${f((x0 + x1) / 2)}" y="${y0 + 30}" text-anchor="middle">FFN density</text>`);
  s.push(`<text transform="translate(${ox + 12} ${f((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">ppl / dense</text>`);

  // --- one line per policy
  const densities = rows.filter((r) => r.policy !== 'dense').map((r) => r.density);
  const left = densities.length ? Math.min(...densities) : 0;
  for (const p of policies) {
    const color = POLICY_COLORS[p];
    let pts: [number, number][];
    if (p === 'dense') {
      pts = dense ? [[left, 1], [1, 1]] : [];
    } else {
      pts = rows.filter((r) => r.policy === p && ok(r)).sort((a, b) => a.density - b.density).map((r) => [r.density, r.pplRatio]);
      if (dense && pts.length && pts[pts.length - 1]![0] < 1) pts.push([1, 1]);
    }
    const points = pts.map(([d, r]) => `${f(sx(d))},${f(sy(r))}`).join(' ');
    s.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${p === 'dense' ? ' stroke-dasharray="4 3"' : ''} points="${points}"><title>${p}</title></polyline>`);
    for (const r of rows) {
      if (r.policy !== p || !ok(r)) continue;
      s.push(`<circle cx="${f(sx(r.density))}" cy="${f(sy(r.pplRatio))}" r="3" fill="${color}"><title>${xml(`${p} at ${r.density}: ppl ${r.ppl.toPrecision(4)} (${r.pplRatio.toFixed(2)}× dense), recall ${r.recall.toFixed(3)}`)}</title></circle>`);
    }
  }
  s.push('</g>');
  return s.join('\n');
}

/** Tick values for a log axis over [lo, hi]: the coarsest 1-2-5 style series with at least 3 ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const series = [[1], [1, 2, 5], [1, 1.5, 2, 3, 5, 7], [1, 1.1, 1.2, 1.3, 1.5, 1.7, 2, 2.5, 3, 4, 5, 6, 7, 8, 9]];
  let ticks: number[] = [];
  for (const mant of series) {
    ticks = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of mant) {
        const t = Number((m * 10 ** e).toPrecision(6));
        if (t >= lo && t <= hi) ticks.push(t);
      }
    }
    if (ticks.length >= 3) break;
  }
  return ticks.length > 10 ? ticks.filter((_, i) => i % Math.ceil(ticks.length / 8) === 0) : ticks;
}

function tickLabel(t: number): string {
  return t >= 1000 ? t.toExponential(0) : String(t);
}

/** Text for an XML text node or attribute (control characters, which XML 1.0 forbids, become U+FFFD). */
function xml(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}
