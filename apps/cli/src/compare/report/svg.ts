/**
 * Small self-contained SVG charts for the comparison report: grouped bars,
 * line curves and a confusion-matrix heat map. Plain strings, no scripts, no
 * external fonts or styles.
 */

/** Escapes text for HTML and SVG content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Colour of the n-th series. */
export const PALETTE = ['#3366cc', '#dc3912', '#109618', '#ff9900', '#990099', '#0099c6'];

const FONT = 'font-family="system-ui, sans-serif" font-size="11"';

/** A bar per series in each group, values in [0, 1]. */
export function barChart(args: { title: string; groups: string[]; series: { name: string; values: number[] }[] }): string {
  const { groups, series } = args;
  const width = 120 + groups.length * (series.length * 26 + 24);
  const height = 230;
  const top = 30;
  const bottom = 190;
  const y = (v: number) => bottom - v * (bottom - top);
  const parts: string[] = [axisY(y, 50, width - 10)];
  groups.forEach((g, gi) => {
    const x0 = 60 + gi * (series.length * 26 + 24);
    series.forEach((s, si) => {
      const v = s.values[gi]!;
      const x = x0 + si * 26;
      parts.push(`<rect class="bar" data-group="${escapeXml(g)}" data-series="${escapeXml(s.name)}" x="${x}" y="${y(v).toFixed(1)}" width="22" height="${(bottom - y(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${s.name}, ${g}: ${(100 * v).toFixed(1)}%`)}</title></rect>`);
      parts.push(`<text x="${x + 11}" y="${(y(v) - 3).toFixed(1)}" text-anchor="middle" ${FONT} font-size="9">${(100 * v).toFixed(0)}</text>`);
    });
    parts.push(`<text x="${x0 + (series.length * 26) / 2}" y="${bottom + 16}" text-anchor="middle" ${FONT}>${escapeXml(g)}</text>`);
  });
  return svg(width, height, args.title, [...parts, legend(series.map((s) => s.name), 60, height - 12)]);
}

/** One line per series over epochs; `percent` scales values in [0, 1] to %. */
export function lineChart(args: { title: string; series: { name: string; points: [number, number][] }[]; percent?: boolean; yLabel: string }): string {
  const width = 460;
  const height = 250;
  const [left, right, top, bottom] = [50, width - 15, 30, 200];
  const xs = args.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = args.series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(2, ...xs);
  const yMax = args.percent ? 1 : Math.max(1e-9, ...ys) * 1.05;
  const x = (v: number) => left + ((v - 1) / (xMax - 1)) * (right - left);
  const y = (v: number) => bottom - (v / yMax) * (bottom - top);
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<line x1="${left}" x2="${right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${args.percent ? `${(100 * v).toFixed(0)}%` : v.toPrecision(2)}</text>`);
  }
  for (let e = 1; e <= xMax; e += Math.max(1, Math.ceil(xMax / 10))) {
    parts.push(`<text x="${x(e).toFixed(1)}" y="${bottom + 14}" text-anchor="middle" ${FONT}>${e}</text>`);
  }
  parts.push(`<text x="${(left + right) / 2}" y="${bottom + 28}" text-anchor="middle" ${FONT}>epoch</text>`);
  parts.push(`<text x="12" y="${(top + bottom) / 2}" transform="rotate(-90 12 ${(top + bottom) / 2})" text-anchor="middle" ${FONT}>${escapeXml(args.yLabel)}</text>`);
  args.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const colour = PALETTE[i % PALETTE.length];
    const d = s.points.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
    parts.push(`<path class="curve" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const [px, py] of s.points) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="2.5" fill="${colour}"/>`);
  });
  return svg(width, height, args.title, [...parts, legend(args.series.map((s) => s.name), left, height - 8)]);
}

/** Heat map of `matrix[t][p]`, rows the true labels, shaded by row share. */
export function confusionChart(args: { title: string; labels: string[]; matrix: number[][] }): string {
  const n = args.labels.length;
  const cell = Math.max(18, Math.min(34, Math.floor(360 / n)));
  const left = 90;
  const top = 95;
  const width = left + n * cell + 10;
  const height = top + n * cell + 10;
  const parts: string[] = [];
  args.labels.forEach((label, i) => {
    parts.push(`<text x="${left - 4}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end" ${FONT}>${escapeXml(label)}</text>`);
    const cx = left + i * cell + cell / 2;
    parts.push(`<text x="${cx}" y="${top - 4}" transform="rotate(-50 ${cx} ${top - 4})" ${FONT}>${escapeXml(label)}</text>`);
  });
  args.matrix.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      const share = total > 0 ? count / total : 0;
      const shade = Math.round(255 - share * 200);
      const fill = t === p ? `rgb(${shade},${Math.round(255 - share * 120)},${shade})` : `rgb(255,${shade},${shade})`;
      const x = left + p * cell;
      const y = top + t * cell;
      parts.push(`<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${count === 0 ? '#fafafa' : fill}" stroke="#eee"><title>${escapeXml(`true ${args.labels[t]}, predicted ${args.labels[p]}: ${count}`)}</title></rect>`);
      if (count > 0) parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" ${FONT} font-size="9">${count}</text>`);
    });
  });
  parts.push(`<text x="8" y="32" ${FONT} fill="#666">rows: true label · columns: predicted</text>`);
  return svg(width, height, args.title, parts);
}

function axisY(y: (v: number) => number, left: number, right: number): string {
  const lines: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = i / 4;
    lines.push(`<line x1="${left}" x2="${right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    lines.push(`<text x="${left - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" ${FONT}>${100 * v}%</text>`);
  }
  return lines.join('');
}

function legend(names: string[], x: number, y: number): string {
  return names
    .map((name, i) => {
      const at = x + i * 110;
      return `<rect x="${at}" y="${y - 9}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${at + 14}" y="${y}" ${FONT}>${escapeXml(name)}</text>`;
    })
    .join('');
}

function svg(width: number, height: number, title: string, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}"><title>${escapeXml(title)}</title><text x="8" y="16" font-family="system-ui, sans-serif" font-size="13" font-weight="600">${escapeXml(title)}</text>${parts.join('')}</svg>`;
}
