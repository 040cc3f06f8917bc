// bench/plot.gp, the sweep plot of bench/run.sh: rendered as text from data of the magnitudes a
// run produces, its deliveries/s axis must label every tick differently (it once printed
// "2M 2M 1M 1M 1M").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('the sweep plot labels its deliveries/s ticks distinctly', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-plot-'));
  try {
    const series = {
      ssebroker: [[100, 1392484, 26.4, 4.3e6], [1000, 1669826, 48.5, 6.7e6], [5000, 1121048, 96.0, 4.3e6], [10000, 840308, 263.2, 3.2e6]],
      nchan: [[100, 274927, 99.1, 0.52e6], [1000, 239296, 227.5, 0.65e6], [5000, 132797, 1266.7, 0.35e6], [10000, 117879, 7281.3, 0.14e6]],
    };
    for (const [name, rows] of Object.entries(series)) {
      fs.writeFileSync(path.join(dir, `sweep-${name}.dat`), rows.map((r) => r.join(' ')).join('\n') + '\n');
    }
    const out = path.join(dir, 'sweep.txt');
    execFileSync('gnuplot', ['-e', `outdir='${dir}'; servers='ssebroker nchan'; term='dumb size 100,60'; output='${out}'`,
      path.join(root, 'bench/plot.gp')], { timeout: 20000 });
    const text = fs.readFileSync(out, 'utf8');
    // The first panel (deliveries/s) ends at its x axis label.
    const panel = text.slice(0, text.indexOf('subscribers'));
    const labels = [...panel.matchAll(/^\s*(\S+) [+|]/gm)].map((m) => m[1]);
    assert.ok(labels.length >= 4, `tick labels found: ${JSON.stringify(labels)}`);
    assert.equal(new Set(labels).size, labels.length, `repeated tick labels: ${labels.join(' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
