// inspect.ts: `inspect`, `image inspect` and `container inspect`: Docker's JSON for
// each argument (containers first, then images, unless --type says), shaped by views/.
import type { GlobalOptions } from './main.js';
import { withEngine, argErrors } from './open.js';
import { compileTemplate, json, renderTemplate } from './format.js';
import { invalidArgument } from '../errors.js';
import { inspectContainer } from '../views/containers.js';

const out = (s: string) => process.stdout.write(s);

/** `inspect`, `image inspect` (only images) and `container inspect` (only containers). */
export function inspectAction(g: () => GlobalOptions, only?: 'image' | 'container') {
  return async (names: string[], o: { format?: string; type?: string; size?: boolean }) =>
    withEngine(g(), async (e) => {
      const found: unknown[] = [];
      const errors: string[] = [];
      const type = only ?? o.type;
      if (type && type !== 'image' && type !== 'container') throw invalidArgument(`"${type}" is not a valid value for --type`);
      if (type !== 'image') await e.containers.reconcile();
      for (const n of names) {
        try {
          if (type !== 'image') {
            try {
              const c = e.containers.resolve(n);
              found.push(inspectContainer(e, c, o.size ? await e.containers.sizes(c) : undefined));
              continue;
            } catch (err) {
              if (type === 'container') throw err;
            }
          }
          found.push(e.images.inspect(n));
        } catch (err) {
          errors.push(type ? (err as Error).message : `No such object: ${n}`);
        }
      }
      if (o.format) out(renderTemplate(compileTemplate(o.format), found));
      else out(json(found) + '\n');
      if (errors.length) throw argErrors(errors);
    });
}


