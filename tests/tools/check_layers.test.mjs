// scripts/check-layers.mjs: it passes on src/ and fails on each kind of violation it exists for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLayers } from '../../scripts/check-layers.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const trees = [];
process.on('exit', () => { for (const d of trees) fs.rmSync(d, { recursive: true, force: true }); });

function tree(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sseb-layers-'));
  trees.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

test('src/ has no upward include and no cycle', () => {
  const { errors, files } = checkLayers(path.join(root, 'src'));
  assert.deepEqual(errors, []);
  assert.ok(files > 40);
});

test('a lower layer including a higher one is reported', () => {
  const dir = tree({ 'core/bus.c': '#include "core/bus.h"\n#include "net/conn.h"\n', 'core/bus.h': '', 'net/conn.h': '' });
  const { errors } = checkLayers(dir);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /core\/bus\.c: includes "net\/conn\.h" from the higher layer net/);
});

test('a module cycle inside one layer is reported', () => {
  const dir = tree({
    'server/a.c': '#include "server/a.h"\n#include "server/b.h"\n', 'server/a.h': '',
    'server/b.c': '#include "server/b.h"\n', 'server/b.h': '#include "server/a.h"\n',
  });
  const { errors } = checkLayers(dir);
  assert.deepEqual(errors, ['modules in an include cycle: server/a -> server/b']);
});

test('includes without their layer and unknown folders are reported', () => {
  const dir = tree({ 'core/x.c': '#include "y.h"\n', 'core/y.h': '', 'misc/z.c': '' });
  const { errors } = checkLayers(dir);
  assert.ok(errors.some((e) => /core\/x\.c: #include "y\.h" does not name its layer/.test(e)), errors.join('\n'));
  assert.ok(errors.some((e) => /misc\/z\.c: folder "misc" is not a layer/.test(e)), errors.join('\n'));
});
