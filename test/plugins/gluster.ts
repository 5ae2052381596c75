// gluster.ts: a throw-away single-node GlusterFS server for tests. glusterd runs with
// its own volfile, working directory, run directory and socket under the test's temp
// root. Gluster refuses bricks on loopback addresses ("provide a valid hostname/ip other
// than localhost"), so the server is a test host of its own: a network namespace the
// test makes, joined to this one by a veth pair (host side 10.254.254.1, server side
// 10.254.254.2, a /30 nothing else uses). All traffic stays between this machine and
// that namespace. stop() stops and deletes the volume, kills glusterd and its brick,
// deletes the namespace (and with it the veth pair), and removes the brick log
// glusterfs writes under /var/log/glusterfs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

/** The server's address, inside the test's own network namespace. */
export const GLUSTER_ADDR = '10.254.254.2';
const HOST_ADDR = '10.254.254.1';

/** Pids of glusterd processes that are alive (a zombie waiting for a slow reaper does not hold the port). */
function liveGlusterd(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (comm === 'glusterd' && state !== 'Z' && state !== 'X') out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

export function glusterMissing(): string | null {
  if (process.getuid?.() !== 0) return 'glusterd needs root';
  for (const b of ['glusterd', 'gluster', 'mount.glusterfs']) if (spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0) return `${b} is not installed (apt-get install glusterfs-server glusterfs-client)`;
  if (liveGlusterd().length > 0) return 'another glusterd is running (port 24007 is taken)';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  return null;
}

export interface GlusterServer { volume: string; brick: string; addr: string; cliArgs: string[]; stop(): void }

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * quota: turn directory quotas on with no soft/hard timeouts and no write-behind, so a
 * limit holds from the first write and is reported by that write (Gluster otherwise
 * checks usage lazily, every few seconds, and reports late); the quota
 * daemon's files under /var/run/gluster and its mount log go with stop().
 */
export function startGluster(dir: string, volume = 'stowagetest', opts: { quota?: boolean } = {}): GlusterServer {
  const wd = join(dir, 'wd'), runDir = join(dir, 'run'), brick = join(dir, 'brick');
  for (const d of [wd, runDir, brick]) mkdirSync(d, { recursive: true });
  const sock = join(runDir, 'glusterd.socket');
  const pid = join(runDir, 'glusterd.pid');
  writeFileSync(join(dir, 'glusterd.vol'), [
    'volume management', '    type mgmt/glusterd', `    option working-directory ${wd}`, '    option transport-type socket',
    '    option transport.socket.listen-port 24007', `    option transport.socket.bind-address ${GLUSTER_ADDR}`,
    '    option ping-timeout 0', '    option event-threads 1', `    option glusterd-sockfile ${sock}`, `    option run-directory ${runDir}`, 'end-volume', '',
  ].join('\n'));
  // The server's own network namespace and a veth pair to it.
  const tag = Math.random().toString(16).slice(2, 8);
  const ns = `stowage-gl-${tag}`;
  const hostIf = `sglh${tag}`;
  const nsIf = `sgln${tag}`;
  let madeNs = false;
  const setupNet = () => {
    run('ip', ['netns', 'add', ns]);
    madeNs = true;
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    run('ip', ['link', 'set', nsIf, 'netns', ns]);
    run('ip', ['addr', 'add', `${HOST_ADDR}/30`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    run('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${GLUSTER_ADDR}/30`, 'dev', nsIf]);
    run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up']);
    run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  };
  const cliArgs = [`--glusterd-sock=${sock}`];
  // glusterd's brick and quota daemons put their sockets in /var/run/gluster whatever the
  // run directory: the ones that appear while this server lives are its own, and go with it.
  const runSockets = () => { try { return readdirSync('/var/run/gluster').filter((n) => n.endsWith('.socket')); } catch { return []; } };
  const before = new Set(runSockets());
  const g = (args: string[]) => run('gluster', [...cliArgs, '--mode=script', ...args]);
  let started = false;
  const stop = () => {
    if (started) {
      spawnSync('gluster', [...cliArgs, '--mode=script', 'volume', 'stop', volume, 'force'], { timeout: 60_000 });
      spawnSync('gluster', [...cliArgs, '--mode=script', 'volume', 'delete', volume], { timeout: 60_000 });
    }
    try { const p = Number(readFileSync(pid, 'utf8')); if (p > 0) process.kill(p, 'SIGTERM'); } catch { /* gone */ }
    for (let i = 0; i < 50 && spawnSync('pgrep', ['-f', `glusterd -f ${join(dir, 'glusterd.vol')}`]).status === 0; i++) spawnSync('sleep', ['0.1']);
    const brickPid = spawnSync('pgrep', ['-f', `--brick-name ${brick}`], { encoding: 'utf8' }).stdout.trim();
    for (const p of brickPid.split('\n').filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
    if (madeNs) {
      // Anything still running in the namespace (glusterd's helpers) goes with it.
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
      for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
      spawnSync('ip', ['link', 'del', hostIf]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
    // The next server of this test run needs port 24007: wait for glusterd to be gone.
    for (let i = 0; i < 50 && liveGlusterd().length > 0; i++) spawnSync('sleep', ['0.1']);
    for (const n of runSockets()) if (!before.has(n)) rmSync(`/var/run/gluster/${n}`, { force: true });
    const logName = brick.slice(1).replaceAll('/', '-');
    rmSync(`/var/log/glusterfs/bricks/${logName}.log`, { force: true });
    if (opts.quota) {
      for (const f of ['quota_limit.pid', 'quota_list.pid', 'quota_list', 'quota_limit']) rmSync(`/var/run/gluster/${volume}_${f}`, { recursive: true, force: true });
      rmSync(`/var/log/glusterfs/quota-mount-${volume}.log`, { force: true });
      rmSync(`/var/log/glusterfs/quota_crawl/${logName}.log`, { force: true });
    }
  };
  try {
    setupNet();
    run('ip', ['netns', 'exec', ns, 'glusterd', '-f', join(dir, 'glusterd.vol'), '-p', pid, '-l', join(dir, 'glusterd.log')]);
    for (let i = 0; i < 100 && !existsSync(sock); i++) spawnSync('sleep', ['0.1']);
    g(['volume', 'create', volume, `${GLUSTER_ADDR}:${brick}`, 'force']);
    started = true;
    g(['volume', 'start', volume]);
    if (opts.quota) {
      g(['volume', 'quota', volume, 'enable']);
      g(['volume', 'set', volume, 'features.hard-timeout', '0']);
      g(['volume', 'set', volume, 'features.soft-timeout', '0']);
      // Without write-behind a write past the quota fails at once with EDQUOT; with it the
      // failure may surface later, at close, as another error (ENOTCONN seen here).
      g(['volume', 'set', volume, 'performance.write-behind', 'off']);
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { volume, brick, addr: GLUSTER_ADDR, cliArgs, stop };
}
