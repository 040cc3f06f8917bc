// The README's quick start, run as written: its curl commands are read out of README.md (only the
// port is changed to the test broker's), so the documentation cannot drift from what works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, sleep } from './lib/broker.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// The shell commands of the README's first ```sh block that runs curl, continuation lines joined.
function quickStartCommands() {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => /curl -N/.test(b));
  assert.ok(block, 'README has a ```sh block with the curl quick start');
  return block.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

function onPort(cmd, port) {
  assert.match(cmd, /localhost:8080/, `the quick start talks to localhost:8080: ${cmd}`);
  return cmd.replaceAll('localhost:8080', `localhost:${port}`);
}

test('the README quick start, pasted as written, delivers the update to the curl subscriber', async () => {
  const cmds = quickStartCommands();
  const subscribe = cmds.find((c) => c.startsWith('curl -N'));
  const publish = cmds.find((c) => c.includes('-X POST'));
  assert.ok(subscribe && publish, `quick start commands: ${JSON.stringify(cmds)}`);

  // scripts/run.sh prints the same subscribe command to a new user.
  const runSh = fs.readFileSync(path.join(root, 'scripts/run.sh'), 'utf8');
  assert.ok(runSh.includes(subscribe), `scripts/run.sh prints the README's subscribe command: ${subscribe}`);

  const b = await new Broker(['--workers', '1']).start();
  const sub = spawn('bash', ['-c', `exec ${onPort(subscribe, b.port)}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let received = '';
  sub.stdout.on('data', (d) => { received += d; });
  const killTimer = setTimeout(() => sub.kill('SIGKILL'), 20000);
  try {
    const deadline = Date.now() + 5000;
    while ((await b.metric('ssebroker_streams')) < 1) {
      assert.ok(Date.now() < deadline, 'the curl subscriber never connected');
      await sleep(50);
    }
    const out = await new Promise((resolve, reject) => {
      execFile('bash', ['-c', onPort(publish, b.port)], { cwd: root, timeout: 10000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    assert.match(out, /^#[A-Za-z0-9_-]{12}$/, `publish answered ${JSON.stringify(out)}`);
    const until = Date.now() + 5000;
    while (!received.includes(`id: ${out}\ndata: {"title":"Hello"}\n\n`)) {
      assert.ok(Date.now() < until, `the subscriber did not receive the update; got ${JSON.stringify(received)}`);
      await sleep(50);
    }
  } finally {
    clearTimeout(killTimer);
    sub.kill('SIGTERM');
    await b.stop();
  }
});
