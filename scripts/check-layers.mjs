#!/usr/bin/env node
// Checks the include graph of src/: every include names its layer ("core/bus.h"), includes point
// down the layer order only, and no module (x.c + x.h) or folder is in an include cycle.
//
//   common < core < store < auth < http < net < server < mercure < (src/*.c: broker, config, main)
//
// usage: node scripts/check-layers.mjs [SRC_DIR]   (default: src/ next to this script)
// Prints what it checked, or each violation; exits 1 on any.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYERS = ['common', 'core', 'store', 'auth', 'http', 'net', 'server', 'mercure', '.'];

function sourceFiles(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...sourceFiles(dir, r));
    else if (/\.[ch]$/.test(e.name)) out.push(r);
  }
  return out;
}

const folderOf = (rel) => (rel.includes('/') ? rel.split('/')[0] : '.');
const moduleOf = (rel) => rel.replace(/\.[ch]$/, '');

// Strongly connected components with more than one member (Tarjan), as sorted name lists.
function cycles(graph) {
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], on = new Set(), found = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of graph.get(v) || []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); on.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

export function checkLayers(srcDir) {
  const errors = [];
  const files = sourceFiles(srcDir);
  const known = new Set(files);
  const modules = new Map(), folders = new Map();
  const edge = (g, a, b) => { if (!g.has(a)) g.set(a, new Set()); if (a !== b) g.get(a).add(b); };
  let includes = 0;
  for (const rel of files) {
    const from = folderOf(rel);
    if (!LAYERS.includes(from)) errors.push(`${rel}: folder "${from}" is not a layer (${LAYERS.join(' < ')})`);
    edge(modules, moduleOf(rel), moduleOf(rel));
    edge(folders, from, from);
    const text = fs.readFileSync(path.join(srcDir, rel), 'utf8');
    for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      const inc = m[1];
      includes++;
      if (inc.startsWith('ssebroker/')) continue; // the public headers, below every layer
      if (!inc.includes('/') && !known.has(inc)) {
        errors.push(`${rel}: #include "${inc}" does not name its layer (write "<layer>/${inc}")`);
        continue;
      }
      if (!known.has(inc)) { errors.push(`${rel}: #include "${inc}": no such file in src/`); continue; }
      const to = folderOf(inc);
      edge(modules, moduleOf(rel), moduleOf(inc));
      edge(folders, from, to);
      if (from !== to && LAYERS.indexOf(to) > LAYERS.indexOf(from)) {
        errors.push(`${rel}: includes "${inc}" from the higher layer ${to} (${from} may include only ${LAYERS.slice(0, LAYERS.indexOf(from)).join(', ') || 'nothing'})`);
      }
    }
  }
  for (const c of cycles(modules)) errors.push(`modules in an include cycle: ${c.join(' -> ')}`);
  for (const c of cycles(folders)) errors.push(`folders in an include cycle: ${c.join(' -> ')}`);
  return { errors, files: files.length, modules: modules.size, includes };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const src = process.argv[2] || path.join(here, '..', 'src');
  const { errors, files, modules, includes } = checkLayers(src);
  for (const e of errors) console.error(`check-layers: ${e}`);
  if (errors.length) {
    console.error(`check-layers: ${errors.length} violation(s)`);
    process.exit(1);
  }
  console.log(`check-layers: ${files} files, ${modules} modules, ${includes} includes: layers ${LAYERS.join(' < ')}, no cycle`);
}
