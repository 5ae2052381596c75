// commands/registry.ts: pull, push, login, logout, with Docker's flags and output;
// and ensureImage, the "Unable to find image … locally" pull of run and create.
import type { Command } from 'commander';
import { Option } from 'commander';
import { createInterface } from 'node:readline';
import type { GlobalOptions } from '../main.js';
import { withEngine } from '../open.js';
import type { Engine } from '../../engine.js';
import { invalidArgument, isNotFound } from '../../errors.js';
import { ProgressRenderer } from '../progress.js';

const out = (s: string) => process.stdout.write(s);

/** Aborts the operation on Ctrl-C, so spools and half-applied layers are cleaned before exit. */
function interruptible(): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const onSig = () => ctl.abort(invalidArgument('interrupted'));
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  return { signal: ctl.signal, done: () => { process.off('SIGINT', onSig); process.off('SIGTERM', onSig); } };
}

export async function pullWithProgress(e: Engine, ref: string, o: { quiet?: boolean; platform?: string; allTags?: boolean; stream?: NodeJS.WritableStream & { isTTY?: boolean } }): Promise<string> {
  const { pull } = await import('../../registry/index.js');
  const stream = o.stream ?? process.stdout;
  const r = new ProgressRenderer(stream, o.quiet ? 'quiet' : undefined);
  const { signal, done } = interruptible();
  try {
    const results = await pull(e, ref, { onProgress: r.on, signal, ...(o.platform ? { platform: o.platform } : {}), ...(o.allTags ? { allTags: true } : {}) });
    if (o.allTags) {
      const { parseReference, normalizedName } = await import('../../images/reference.js');
      return normalizedName(parseReference(ref, { defaultTag: false }));
    }
    return results[0]!.reference;
  } finally {
    done();
  }
}

/**
 * Before run/create: pulls the image as Docker does. missing (default): only when
 * it is not in the store, after "Unable to find image 'x:latest' locally" on stderr;
 * always: every time; never: refuse when missing.
 */
export async function ensureImage(e: Engine, image: string, policy: string | undefined, platform?: string): Promise<void> {
  const p = policy ?? 'missing';
  if (!['missing', 'always', 'never'].includes(p)) throw invalidArgument(`invalid pull option: '${p}': must be one of "always", "missing" or "never"`, { name: p });
  if (p !== 'always') {
    try {
      e.images.resolve(image);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const { parseImageArg, familiarString } = await import('../../images/reference.js');
    const arg = parseImageArg(image);
    if (arg.kind === 'id') return; // an id we do not have: create's own error says so
    if (p === 'never') throw invalidArgument(`No such image: ${familiarString(arg.ref)}`, { name: image });
    process.stderr.write(`Unable to find image '${familiarString(arg.ref)}' locally\n`);
  }
  await pullWithProgress(e, image, { stream: process.stderr, ...(platform ? { platform } : {}) });
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks for what is missing on the terminal, the password without echo (one readline for both: typed-ahead input is kept). */
async function promptCredentials(username: string | undefined, password: string | undefined): Promise<{ username: string; password: string }> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  let muted = false;
  const w = rl as unknown as { _writeToOutput: (s: string) => void };
  const orig = w._writeToOutput.bind(rl);
  w._writeToOutput = (str: string) => { if (!muted) orig(str); };
  const ask = (q: string) => new Promise<string>((resolve) => rl.question(q, resolve));
  try {
    const u = username ?? (await ask('Username: ')).trim();
    let p = password;
    if (p === undefined) {
      process.stdout.write('Password: ');
      muted = true;
      p = await ask('');
      muted = false;
      process.stdout.write('\n');
    }
    return { username: u, password: p };
  } finally {
    rl.close();
  }
}

export function registerRegistryCommands(program: Command, g: () => GlobalOptions): void {
  const pullCmd = (c: Command) => c.description('Download an image from a registry')
    .argument('<NAME[:TAG|@DIGEST]>')
    .option('-a, --all-tags', 'download all tagged images in the repository')
    .option('--platform <string>', 'set platform if server is multi-platform capable (os/arch[/variant])')
    .option('-q, --quiet', 'suppress verbose output')
    .addOption(new Option('--disable-content-trust', 'skip image verification (accepted for compatibility)').hideHelp())
    .action(async (ref: string, o: { allTags?: boolean; platform?: string; quiet?: boolean }) => withEngine(g(), async (e) => {
      const name = await pullWithProgress(e, ref, o);
      out(name + '\n');
    }));
  pullCmd(program.command('pull'));

  const pushCmd = (c: Command) => c.description('Upload an image to a registry')
    .argument('<NAME[:TAG]>')
    .option('-q, --quiet', 'suppress verbose output')
    .addOption(new Option('--disable-content-trust', 'skip image signing (accepted for compatibility)').hideHelp())
    .action(async (ref: string, o: { quiet?: boolean }) => withEngine(g(), async (e) => {
      const { push } = await import('../../registry/index.js');
      const r = new ProgressRenderer(process.stdout, o.quiet ? 'quiet' : undefined);
      const { signal, done } = interruptible();
      try {
        await push(e, ref, { onProgress: r.on, signal });
      } finally {
        done();
      }
      if (o.quiet) {
        const { parseReference, referenceString } = await import('../../images/reference.js');
        out(referenceString(parseReference(ref)) + '\n');
      }
    }));
  pushCmd(program.command('push'));

  const image = program.commands.find((c) => c.name() === 'image');
  if (image) {
    pullCmd(image.command('pull'));
    pushCmd(image.command('push'));
  }

  program.command('login').description('Log in to a registry (default Docker Hub)')
    .argument('[SERVER]')
    .option('-u, --username <string>', 'username')
    .option('-p, --password <string>', 'password')
    .option('--password-stdin', 'take the password from stdin')
    .action(async (server: string | undefined, o: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const { login } = await import('../../registry/index.js');
      if (o.password !== undefined && o.passwordStdin) throw invalidArgument('--password and --password-stdin are mutually exclusive');
      let password = o.password;
      if (password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (o.passwordStdin) {
        if (!o.username) throw invalidArgument('Must provide --username with --password-stdin');
        password = await readStdin();
      }
      let username = o.username;
      let result;
      if (username === undefined && password === undefined) {
        // Docker first tries the stored credentials.
        try {
          result = await login(server, undefined);
          process.stdout.write('Authenticating with existing credentials...\n');
        } catch {
          result = undefined;
        }
      }
      if (!result) {
        if (username === undefined || password === undefined) {
          if (!process.stdin.isTTY) throw invalidArgument('Cannot perform an interactive login from a non TTY device');
          ({ username, password } = await promptCredentials(username, password));
        }
        if (!username) throw invalidArgument('Username is required');
        if (!password) throw invalidArgument('Password is required');
        result = await login(server, { username, password });
      }
      if (!result.existing && !result.helper && result.file) {
        process.stderr.write(`WARNING! Your password will be stored unencrypted in ${result.file}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credential-stores\n\n`);
      }
      out('Login Succeeded\n');
    });

  program.command('logout').description('Log out from a registry (default Docker Hub)')
    .argument('[SERVER]')
    .action(async (server: string | undefined) => {
      const { logout } = await import('../../registry/index.js');
      const r = logout(server);
      out(r.removed ? `Removing login credentials for ${r.key}\n` : `Not logged in to ${r.key}\n`);
    });
}
