// The real pieces of Kith for end-to-end tests: a `kith-server` process on 127.0.0.1 with a temporary
// data directory, its admin commands, `kith` command-line devices, and a loopback TCP proxy that can
// take a device offline. Nothing here builds anything: scripts/test.sh builds first.
//
// Everything started here is registered and stopped by `stopAll()` (each test file calls it in an
// `after` hook) and, as a last resort, killed when the Node process exits.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const root = path.resolve(import.meta.dirname, '..', '..');
export const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(root, process.env.CARGO_TARGET_DIR)
  : path.join(root, 'target');
export const bins = {
  server: path.join(targetDir, 'debug', 'kith-server'),
  kith: path.join(targetDir, 'debug', 'kith'),
  app: path.join(targetDir, 'debug', 'kith-app'),
};
export const uiDist = path.join(root, 'ui', 'dist');
export const screenshotDir = path.join(root, 'docs', 'screenshots');
/// Where logs of the processes started here go (kept after a run, for a failure's diagnosis).
export const logDir = path.join(root, 'target', 'e2e-logs');

/// Screen sizes of the screenshots in docs/screenshots.
export const sizes = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
};

const children = new Set();
const cleanups = [];
const tempDirs = [];

process.on('exit', () => {
  for (const c of children) {
    try {
      if (c.kithGroup) process.kill(-c.pid, 'SIGKILL');
      else c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  if (!process.env.KITH_E2E_KEEP) {
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  }
});

/// A fresh temporary directory, removed when the process exits (unless KITH_E2E_KEEP is set).
export function tempDir(prefix = 'kith-e2e-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/// Registers something to undo in `stopAll()` (last registered, first undone).
export function onCleanup(fn) {
  cleanups.push(fn);
}

/// Stops everything started through this module.
export async function stopAll() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (e) {
      console.error('cleanup failed:', e);
    }
  }
  for (const c of [...children]) await killChild(c);
}

/// Polls `fn` until it returns a truthy value (returned) or the deadline passes (throws, naming `what`
/// and the last error). No fixed sleeps: this is how every test waits for readiness.
export async function waitFor(fn, { timeout = 10_000, interval = 50, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message ?? last}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

function logFile(name) {
  fs.mkdirSync(logDir, { recursive: true });
  return path.join(logDir, `${name}.log`);
}

/// Spawns a long-running process, its output appended to target/e2e-logs/<name>.log. With
/// `group: true` it leads a process group of its own, and is stopped with all its children.
export function startProcess(name, cmd, args, { env = {}, group = false, onLine } = {}) {
  const file = logFile(name);
  const log = fs.openSync(file, 'a');
  fs.writeSync(log, `\n=== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: group,
  });
  child.kithGroup = group;
  child.kithName = name;
  child.kithLog = file;
  children.add(child);
  let buf = '';
  const take = (chunk) => {
    fs.writeSync(log, chunk);
    if (!onLine) return;
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i).replace(/\x1b\[[0-9;]*m/g, ''));
      buf = buf.slice(i + 1);
    }
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      try {
        fs.closeSync(log);
      } catch {
        // closed
      }
      resolve({ code, signal });
    });
  });
  return child;
}

/// Stops a process (its group, if it leads one): SIGTERM, then SIGKILL if it has not exited in `graceMs`.
export async function killChild(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return child.exited;
  const send = (sig) => {
    try {
      if (child.kithGroup) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  send('SIGTERM');
  const timer = setTimeout(() => send('SIGKILL'), graceMs);
  const r = await child.exited;
  clearTimeout(timer);
  // A group's other members (e.g. the app under WebKitWebDriver) go too.
  if (child.kithGroup) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // none left
    }
  }
  return r;
}

async function fetchJson(url, init) {
  const r = await fetch(url, init);
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

/// A real `kith-server` process (embedded SQLite in a temporary data directory) on 127.0.0.1.
export class Server {
  constructor({ dataDir = tempDir('kith-server-'), name = 'kith-server', uiDir = uiDist, env = {} } = {}) {
    this.dataDir = dataDir;
    this.name = name;
    this.uiDir = uiDir;
    this.env = env;
    this.port = 0;
    this.child = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /// Starts the server on `port` (default: the port it had before, else 0 = any free port; the
  /// bound address is read from its log line "kith-server listening addr=...") and waits, by
  /// polling /healthz, until it answers.
  async start(port = this.port) {
    if (this.child) throw new Error('the server is already running');
    let bound;
    const child = startProcess(
      this.name,
      bins.server,
      ['--data-dir', this.dataDir, '--listen', `127.0.0.1:${port}`, 'serve'],
      {
        env: {
          KITH_UI_DIR: this.uiDir,
          KITH_LOG: 'info,tower_http=warn',
          // Every device of a test joins from 127.0.0.1: more than the default burst of 10 joins.
          KITH_JOIN_RATE__BURST: '1000',
          ...this.env,
        },
        onLine: (line) => {
          const m = /kith-server listening.*addr=(\S+)/.exec(line);
          if (m) bound = m[1];
        },
      },
    );
    this.child = child;
    let exited = null;
    child.exited.then((r) => {
      exited = r;
    });
    await waitFor(
      () => {
        if (exited) throw new Error(`kith-server exited (${JSON.stringify(exited)}); see ${child.kithLog}`);
        return bound;
      },
      { what: 'kith-server to bind its address' },
    );
    this.port = Number(bound.split(':').pop());
    await waitFor(
      async () => {
        if (exited) throw new Error(`kith-server exited (${JSON.stringify(exited)}); see ${child.kithLog}`);
        const r = await fetch(`${this.url}/healthz`);
        return r.ok;
      },
      { what: `${this.url}/healthz` },
    );
    return this;
  }

  /// Stops the server (SIGTERM: it finishes in-flight requests and ends live streams).
  async stop() {
    if (!this.child) return;
    const c = this.child;
    this.child = null;
    await killChild(c, 10_000);
  }

  async restart() {
    await this.stop();
    return this.start(this.port);
  }

  /// `kith-server --data-dir <dir> admin <args>` on the same database; returns its stdout.
  async admin(...args) {
    const { stdout } = await execFileP(bins.server, ['--data-dir', this.dataDir, 'admin', ...args], {
      env: { ...process.env, NO_COLOR: '1' },
    });
    return stdout;
  }

  /// A team with its first lead invite: `{ teamId, leadCode }`.
  async createTeam(name, { phone } = {}) {
    const out = await this.admin('create-team', '--name', name, ...(phone ? ['--phone', phone] : []));
    const teamId = /^team (\S+)/m.exec(out)?.[1];
    const leadCode = /^lead invite (\S+)/m.exec(out)?.[1];
    if (!teamId || !leadCode) throw new Error(`unexpected output of admin create-team: ${out}`);
    return { teamId, leadCode };
  }

  /// An invite code for `teamId`.
  async invite(teamId, { role = 'member', uses = 1, expires = '1d' } = {}) {
    const out = await this.admin('invite', '--team', teamId, '--role', role, '--uses', String(uses), '--expires', expires);
    return out.trim();
  }

  /// The kith://join link a lead would send for `code`.
  joinLink(code, url = this.url) {
    return `kith://join?server=${encodeURIComponent(url)}&code=${encodeURIComponent(code)}`;
  }

  async healthz() {
    return fetchJson(`${this.url}/healthz`);
  }
}

/// A loopback TCP proxy in front of a server: a device joined through it can be taken offline
/// (connections refused at once, open ones cut) and brought back, while the server keeps running.
export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.online = true;
    this.sockets = new Set();
    this.server = net.createServer((client) => this.#accept(client));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = this.server.address().port;
    onCleanup(() => this.close());
    return this;
  }

  #accept(client) {
    if (!this.online) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  setOnline(online) {
    this.online = online;
    if (!online) for (const s of this.sockets) s.destroy();
  }

  async close() {
    this.setOnline(false);
    await new Promise((r) => this.server.close(r));
  }
}

/// A `kith` command-line device with its own data directory.
export class Device {
  constructor(name, { dataDir = tempDir(`kith-${name.split(' ')[0].toLowerCase()}-`) } = {}) {
    this.name = name;
    this.dataDir = dataDir;
  }

  /// Runs `kith --data-dir <dir> --json <args>`; resolves to the parsed JSON output (or the text if
  /// it is not JSON). Rejects on a non-zero exit, with the error from stderr. `env` adds variables
  /// (e.g. KITH_NOW).
  async run(args, { env = {}, json = true, allowExit = [] } = {}) {
    const argv = ['--data-dir', this.dataDir, ...(json ? ['--json'] : []), ...args];
    const cmdEnv = { ...process.env, NO_COLOR: '1', ...env };
    delete cmdEnv.KITH_DATA_DIR;
    if (!('KITH_NOW' in env)) delete cmdEnv.KITH_NOW;
    let stdout;
    try {
      ({ stdout } = await execFileP(bins.kith, argv, { env: cmdEnv, timeout: 60_000 }));
    } catch (e) {
      if (allowExit.includes(e.code)) {
        stdout = e.stdout;
      } else {
        throw new Error(`kith ${argv.join(' ')} failed (exit ${e.code}): ${e.stderr || e.message}`);
      }
    }
    fs.appendFileSync(logFile('kith-cli'), `$ kith ${argv.join(' ')}\n${stdout}\n`);
    try {
      return JSON.parse(stdout);
    } catch {
      return stdout;
    }
  }

  join(server, code) {
    return this.run(['join', server, code, '--name', this.name, '--device-label', `${this.name}'s e2e device`]);
  }

  startShift({ purpose = 'Meter readings, north estate', until = '+8h', every = '1h', env } = {}) {
    return this.run(['shift', 'start', '--purpose', purpose, '--until', until, '--every', every], { env });
  }

  checkin(status = 'ok', { note, mood, env } = {}) {
    const args = ['checkin', status];
    if (note) args.push('--note', note);
    if (mood) args.push('--mood', String(mood));
    return this.run(args, { env });
  }

  sync() {
    return this.run(['sync']);
  }

  team() {
    return this.run(['team']);
  }
}

/// A team on `server` with a lead invite (for the UI) and joined `kith` worker devices.
export async function makeTeam(server, name, { leadInvites = 1 } = {}) {
  const { teamId, leadCode } = await server.createTeam(name, { phone: '+44 20 7946 0000' });
  const leadCodes = [leadCode];
  for (let i = 1; i < leadInvites; i++) leadCodes.push(await server.invite(teamId, { role: 'lead' }));
  return { teamId, leadCodes };
}

/// Milliseconds since the epoch as KITH_NOW wants it.
export function kithNow(ms) {
  return String(Math.round(ms));
}

/// Saves a screenshot (PNG bytes or base64) as docs/screenshots/<name>.png.
export function saveScreenshot(name, data) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  fs.writeFileSync(file, typeof data === 'string' ? Buffer.from(data, 'base64') : data);
  return file;
}

/// Says why a suite cannot run (a binary or the built UI missing), or null when it can.
export function missing(...files) {
  const absent = files.filter((f) => !fs.existsSync(f));
  return absent.length ? `missing ${absent.join(', ')} (scripts/test.sh builds them first)` : null;
}
