// SVG plots of a bench/suite.mjs report, drawn with vega-lite (compiled to vega, rendered to SVG
// in Node: no canvas, no browser). Used by suite.mjs; also `node bench/plots.mjs [suite.json] [--docs]`.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const RESULTS = new URL('./results/', import.meta.url);
const DOCS_IMG = new URL('../docs/img/', import.meta.url);
const LABELS = {
  ours: 'websocketstream read()', 'ours-forawait': 'websocketstream for await', 'ours-pipeto': 'websocketstream pipeTo',
  'ours-tuned': 'websocketstream read(), tuned flag',
  'ours-ws': 'websocketstream WebSocket', ws: 'ws', 'ws-stream': 'ws createWebSocketStream',
  'undici-ws': 'undici WebSocket', 'undici-wss': 'undici WebSocketStream', raw: 'raw TCP (limit)',
  floor: 'raw TCP floor', 'ws-pause': 'ws + manual pause()',
};
const SIZE_ORDER = ['16 B', '1 KiB', '64 KiB', '1 MiB'];

async function toSvg(spec) {
  const vega = await import('vega');
  const { compile } = await import('vega-lite');
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

function throughputSpec(report, direction, title) {
  const values = [];
  for (const [id, row] of Object.entries(report.summary)) {
    if (!id.startsWith(direction)) continue;
    const size = id.slice(direction.length + 1);
    for (const [peer, f] of Object.entries(row)) {
      if (f && !f.error && f.MBps) values.push({ size, implementation: LABELS[peer] ?? peer, MBps: Math.round(f.MBps) });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${title} (payload MB/s, median of ${report.runs}, node ${report.node})`,
    width: 150,
    height: 220,
    data: { values },
    mark: 'bar',
    encoding: {
      column: { field: 'size', type: 'ordinal', sort: SIZE_ORDER, title: 'message size' },
      x: { field: 'implementation', type: 'nominal', axis: null, sort: Object.values(LABELS) },
      y: { field: 'MBps', type: 'quantitative', title: 'MB/s (log)', scale: { type: 'log' } },
      color: { field: 'implementation', type: 'nominal', sort: Object.values(LABELS), legend: { orient: 'bottom', columns: 3, title: null, labelLimit: 400 } },
      tooltip: [{ field: 'MBps' }],
    },
    config: { background: 'white' },
  };
}

function memorySpec(slow) {
  const values = [];
  const seen = new Set();
  for (const r of slow.results) {
    if (seen.has(r.client) || !r.timeline) continue; // the first run of each client
    seen.add(r.client);
    const base = r.timeline[0]?.[1] ?? 0;
    for (const [ms, rss] of r.timeline) values.push({ seconds: ms / 1000, growth: Math.round((rss - base) * 10) / 10, client: LABELS[r.client] ?? r.client });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `RSS growth while a ${slow.totalMiB} MiB flood meets a ${slow.rateMiB} MiB/s consumer`,
    width: 560,
    height: 280,
    data: { values },
    mark: { type: 'line', strokeWidth: 2 },
    encoding: {
      x: { field: 'seconds', type: 'quantitative', title: 'seconds' },
      y: { field: 'growth', type: 'quantitative', title: 'RSS growth (MiB)' },
      color: { field: 'client', type: 'nominal', legend: { orient: 'top-left', title: null, labelLimit: 400 } },
    },
    config: { background: 'white' },
  };
}

/** Writes the plots of `report`; returns the paths written. */
export async function renderPlots(report, { docs = false } = {}) {
  const plots = [];
  if (report.summary && Object.keys(report.summary).length) {
    plots.push(['throughput-s2c.svg', throughputSpec(report, 's2c', 'Server to client')]);
    plots.push(['throughput-c2s.svg', throughputSpec(report, 'c2s', 'Client to server')]);
  }
  if (report.slowConsumer?.results) plots.push(['slow-consumer-rss.svg', memorySpec(report.slowConsumer)]);
  const written = [];
  for (const dir of docs ? [RESULTS, DOCS_IMG] : [RESULTS]) {
    await mkdir(dir, { recursive: true });
    for (const [name, spec] of plots) {
      const file = new URL(name, dir);
      await writeFile(file, await toSvg(spec));
      written.push(fileURLToPath(file));
    }
  }
  return written;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? fileURLToPath(new URL('suite.json', RESULTS));
  const report = JSON.parse(await readFile(file, 'utf8'));
  console.log((await renderPlots(report, { docs: process.argv.includes('--docs') })).join('\n'));
}
