// views/build.ts: the builder's events in the classic builder's words ("Step 1/7 :
// FROM …", " ---> Using cache", "Successfully built …"), for `stowage build` and for
// POST /build's JSON stream ({"stream": …} per piece), or BuildKit's plain style.
import type { BuildEvent } from '../build/builder.js';
import { humanBytes } from '../registry/progress.js';

export const shortImageId = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
const short = shortImageId;

/** The name `Successfully tagged` prints: with ":latest" when no tag was given. */
export function taggedName(t: string): string {
  return t.includes(':') && !t.endsWith(']') && t.lastIndexOf(':') > t.lastIndexOf('/') ? t : `${t}:latest`;
}

/**
 * Prints events in the classic builder's format. `context` says how a context tar's
 * reading is shown: rewritten in place on a terminal, its final line only off one, or
 * not at all (POST /build: the docker CLI shows its own upload).
 */
export function classicPrinter(write: (s: string) => void, context: 'tty' | 'plain' | 'none' = 'none'): (e: BuildEvent) => void {
  let midLine = false;
  const line = (s: string) => { if (midLine) { write('\n'); midLine = false; } write(s + '\n'); };
  return (e) => {
    switch (e.type) {
      case 'context': {
        if (context === 'none' || (context === 'plain' && !e.done)) break;
        const text = `Reading build context  ${humanBytes(e.bytes)}`;
        if (context === 'tty') { write(`\r\x1b[2K${text}${e.done ? '\n' : ''}`); midLine = !e.done; } else write(text + '\n');
        break;
      }
      case 'step': line(`Step ${e.step}/${e.total} : ${e.text.split('\n')[0]}`); break;
      case 'trigger': line(`# Executing ${e.count} build trigger${e.count === 1 ? '' : 's'}`); break;
      case 'cached': line(' ---> Using cache'); break;
      case 'running': line(` ---> Running in ${short(e.containerId)}`); break;
      case 'output': { const s = e.data.toString('utf8'); write(s); midLine = !s.endsWith('\n'); break; }
      case 'removed': line(`Removing intermediate container ${short(e.containerId)}`); break;
      case 'result': line(` ---> ${short(e.id)}`); break;
      case 'warning': line(e.message); break;
    }
  };
}

/** One numbered line per step (BuildKit's plain style): #N [i/n] INSTR, output, CACHED or DONE. */
export function plainPrinter(write: (s: string) => void): (e: BuildEvent) => void {
  let n = 0;
  let started = Date.now();
  return (e) => {
    switch (e.type) {
      case 'step': n = e.step; started = Date.now(); write(`#${n} [${e.step}/${e.total}] ${e.text.split('\n')[0]}\n`); break;
      case 'cached': write(`#${n} CACHED\n`); break;
      case 'output':
        for (const l of e.data.toString('utf8').split('\n').filter(Boolean)) write(`#${n} ${((Date.now() - started) / 1000).toFixed(3)} ${l}\n`);
        break;
      case 'result': write(`#${n} DONE ${e.seconds.toFixed(1)}s (${short(e.id)})\n`); break;
      case 'warning': write(`WARNING: ${e.message}\n`); break;
      default: break;
    }
  };
}

