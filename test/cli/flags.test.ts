// Flag reading as the docker CLI's parser (pflag) does it, table-driven: the forms
// of -v / --volume / --mount users write, through a commander command set up as
// `run` is, and Docker's unknown-flag message. The end-to-end check of the same forms
// against Docker is test/mounts/docker-parity.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import { applyDockerFlagRules, pflagShorthands } from '../../src/cli/flags.js';
import { collect } from '../../src/cli/open.js';
import { join } from 'node:path';
import { tempDir } from '../helpers/env.js';
import { stowage } from '../helpers/cli.js';

function runLike(): Command {
  const program = new Command('stowage').exitOverride().enablePositionalOptions().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  program.command('run')
    .argument('<image>').argument('[cmd...]')
    .option('-d, --detach').option('-i, --interactive').option('-t, --tty')
    .option('-v, --volume <list>', '', collect)
    .option('--mount <mount>', '', collect)
    .option('--tmpfs <list>', '', collect)
    .option('-e, --env <list>', '', collect)
    .passThroughOptions()
    .exitOverride()
    .action(() => {});
  applyDockerFlagRules(program);
  return program;
}

function parse(args: string[]): { opts: Record<string, unknown>; args: string[] } {
  const p = runLike();
  p.parse(['run', ...args], { from: 'user' });
  const run = p.commands[0]!;
  return { opts: run.opts(), args: run.args };
}

describe('flags read as pflag reads them', () => {
  const cases: Array<{ doc: string; args: string[]; expect: { opts: Record<string, unknown>; args: string[] } }> = [
    { doc: '-v VALUE', args: ['-v', 'data:/x', 'img'], expect: { opts: { volume: ['data:/x'] }, args: ['img'] } },
    { doc: '-v=VALUE drops the "="', args: ['-v=data:/x', 'img'], expect: { opts: { volume: ['data:/x'] }, args: ['img'] } },
    { doc: '-vVALUE joined', args: ['-vdata:/x', 'img'], expect: { opts: { volume: ['data:/x'] }, args: ['img'] } },
    { doc: '--volume=VALUE', args: ['--volume=data:/x', 'img'], expect: { opts: { volume: ['data:/x'] }, args: ['img'] } },
    { doc: '--volume VALUE', args: ['--volume', 'data:/x', 'img'], expect: { opts: { volume: ['data:/x'] }, args: ['img'] } },
    { doc: '--mount=VALUE keeps its own "=" signs', args: ['--mount=type=volume,src=a,dst=/x', 'img'], expect: { opts: { mount: ['type=volume,src=a,dst=/x'] }, args: ['img'] } },
    { doc: 'a cluster: -dv=VALUE', args: ['-dv=data:/x', 'img'], expect: { opts: { detach: true, volume: ['data:/x'] }, args: ['img'] } },
    { doc: 'a cluster: -itv VALUE', args: ['-itv', 'data:/x', 'img'], expect: { opts: { interactive: true, tty: true, volume: ['data:/x'] }, args: ['img'] } },
    { doc: '-v "=x" as its own argument keeps the "="', args: ['-v', '=x:/d', 'img'], expect: { opts: { volume: ['=x:/d'] }, args: ['img'] } },
    { doc: '-v= alone is the value "=" (pflag reads it so)', args: ['-v=', 'img'], expect: { opts: { volume: ['='] }, args: ['img'] } },
    { doc: '-e=A=B drops only the first "="', args: ['-e=A=B', 'img'], expect: { opts: { env: ['A=B'] }, args: ['img'] } },
    { doc: "the container's own arguments are never rewritten", args: ['img', 'sh', '-v=1', '-e=x'], expect: { opts: {}, args: ['img', 'sh', '-v=1', '-e=x'] } },
    { doc: 'a value that is -v=… is the value of the flag before it', args: ['-e', '-v=1', 'img'], expect: { opts: { env: ['-v=1'] }, args: ['img'] } },
  ];
  for (const c of cases) it(c.doc, () => assert.deepEqual(parse(c.args), c.expect));

  it('pflagShorthands stops at "--"', () => {
    const run = runLike().commands[0]!;
    assert.deepEqual(pflagShorthands(run, ['--', '-v=x']), ['--', '-v=x']);
  });
});

describe("an unknown flag, in Docker's words", () => {
  const cases = [
    { doc: 'long', args: ['--bogus', 'img'], expect: "unknown flag: --bogus\nSee 'stowage run --help'." },
    { doc: 'long with a value', args: ['--bogus=1', 'img'], expect: "unknown flag: --bogus\nSee 'stowage run --help'." },
    { doc: 'shorthand', args: ['-z', 'img'], expect: "unknown shorthand flag: 'z' in -z\nSee 'stowage run --help'." },
  ];
  for (const c of cases) {
    it(c.doc, () => {
      assert.throws(() => parse(c.args), (err: unknown) => err instanceof CommanderError && err.code === 'commander.unknownOption' && err.message === c.expect && err.exitCode === 125);
    });
  }
});

describe('through the real CLI', () => {
  it("an unknown flag exits 125 with Docker's words; --storage-driver's help names its variable once", async (t) => {
    const s = stowage(join(tempDir(t), 'root'), 'vfs');
    for (const [args, expect] of [
      [['run', '--bogus', 'img'], "unknown flag: --bogus\nSee 'stowage run --help'.\n"],
      [['volume', 'create', '-z'], "unknown shorthand flag: 'z' in -z\nSee 'stowage volume create --help'.\n"],
    ] as const) {
      const r = await s.run([...args]);
      assert.equal(r.code, 125);
      assert.equal(r.stderr, expect);
    }
    const help = await s.ok(['--help']);
    const line = help.split('\n').find((l) => l.includes('--storage-driver'))!;
    assert.equal(line.split('STOWAGE_STORAGE_DRIVER').length - 1, 1, line);
  });
});
