// terminal.ts: the user's terminal for `run -it` and `attach`: raw mode as Docker's
// CLI sets it, and the input to forward.
import { PassThrough } from 'node:stream';

/**
 * Our terminal in raw mode, Docker's way (see native/pty.c makeRaw), and the input to
 * forward: what was typed before the switch, then the terminal — or only what was
 * typed, when the input had already ended (an EOF must not reach the container as the
 * NUL byte raw mode would turn it into: issue 16).
 */
export async function rawTerminal(): Promise<{ stdin: NodeJS.ReadableStream; restore: () => void }> {
  const { ptyAvailable, ptyNative } = await import('../util/pty.js');
  if (!ptyAvailable()) {
    process.stdin.setRawMode(true);
    return { stdin: process.stdin, restore: () => process.stdin.setRawMode(false) };
  }
  const r = ptyNative().makeRaw(0);
  const restore = () => { try { ptyNative().setTermios(0, r.saved); } catch { /* terminal gone */ } };
  const input = new PassThrough();
  if (r.pending.length) input.write(r.pending);
  if (r.eof) input.end();
  else process.stdin.pipe(input);
  return { stdin: input, restore };
}
