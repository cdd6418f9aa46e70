import type { ComparisonFigures } from '../figures.js';
import type { Verdict } from '../verdict.js';
import { barChart, confusionChart, escapeXml, lineChart } from './svg.js';
import { budgetText, curveTable, invarianceText, headTable, measured, pct, summaryTable, type Table } from './table.js';

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.verdict { background: #f6f9ff; border-left: 4px solid #3366cc; padding: 0.5rem 1rem; }
.note { background: #fff6f0; border-left: 4px solid #dc3912; padding: 0.5rem 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.meta { color: #555; font-size: 0.9rem; }
`;

/**
 * The comparison as one self-contained HTML page: inline CSS and SVG charts,
 * no scripts and nothing fetched from the network.
 */
export function htmlReport(figures: ComparisonFigures, verdict: Verdict): string {
  const all = measured(figures);
  const best = figures.strategies[verdict.recommended]!;
  const hasUnseen = figures.split.unseen > 0;
  const exact = barChart({
    title: 'Exact-match by strategy',
    groups: all.map((s) => s.strategy),
    series: [
      { name: 'seen', values: all.map((s) => s.seen.exactMatch) },
      ...(hasUnseen ? [{ name: 'unseen', values: all.map((s) => s.unseen?.exactMatch ?? 0) }] : []),
    ],
  });
  const loss = lineChart({
    title: 'Training loss',
    yLabel: 'loss',
    series: all.map((s) => ({ name: s.strategy, points: s.curves.map((p) => [p.epoch, p.loss] as [number, number]) })),
  });
  const acc = lineChart({
    title: 'Validation accuracy (own heads)',
    yLabel: 'accuracy',
    percent: true,
    series: all.map((s) => ({ name: s.strategy, points: s.curves.filter((p) => p.valAccuracy !== undefined).map((p) => [p.epoch, p.valAccuracy!] as [number, number]) })),
  });
  const matrices = figures.heads.map((h) =>
    confusionChart({ title: `${best.strategy}: ${h.name}`, labels: h.labels, matrix: best.seen.heads[h.name]!.confusion }),
  );
  const body = [
    '<h1>polyhead compare</h1>',
    `<p class="meta">Data <code>${escapeXml(figures.dataset)}</code>: ${figures.heads.map((h) => `${escapeXml(h.name)} (${h.labels.length} labels)`).join(', ')}. Split, the same for every strategy: ${figures.split.train} training, ${figures.split.val} validation, ${figures.split.unseen} unseen-combination images.` +
      (figures.heldOut.length > 0 ? ` Held out: ${escapeXml(figures.heldOut.map((c) => Object.values(c).join(' ')).join(', '))}.` : '') +
      ` Budget: ${escapeXml(budgetText(figures))}; ${figures.settings.inputSize} px, width ${figures.settings.width}, depth ${figures.settings.depth}, seed ${figures.settings.seed}, ${escapeXml(figures.settings.backend)} backend.${escapeXml(invarianceText(figures))} Chance exact-match ${pct(figures.chanceExactMatch)}. Total ${figures.totalSeconds.toFixed(0)} s.</p>`,
    `<h2>Verdict</h2><div class="verdict" id="verdict">${verdict.sentences.map((s) => `<p>${escapeXml(s)}</p>`).join('')}</div>`,
    '<h2>Strategies</h2>',
    `<ul>${all.map((s) => `<li><b>${s.strategy}</b>: ${escapeXml(s.description)}</li>`).join('')}</ul>`,
    table(summaryTable(figures), 'summary'),
    figures.strategies.combined && hasUnseen
      ? '<p class="note"><b>The combined classifier never produces an unseen combination</b>: its classes are the combinations present in training, so its unseen exact-match is 0 by construction.</p>'
      : '',
    `<div class="charts">${exact}</div>`,
    '<h2>Per head</h2>',
    table(headTable(figures), 'heads'),
    '<h2>Training curves</h2>',
    `<div class="charts">${loss}${acc}</div>`,
    `<details><summary>Values</summary>${table(curveTable(figures), 'curves')}</details>`,
    `<h2>Confusion matrices of ${best.strategy} (validation)</h2>`,
    `<div class="charts">${matrices.join('')}</div>`,
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>polyhead compare</title>
<style>${STYLE}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}

function table(t: Table, id: string): string {
  const head = `<tr>${t.header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`;
  const rows = t.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('');
  return `<table id="${id}"><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}
