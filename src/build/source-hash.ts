// source-hash.ts: the digests Docker's classic builder writes into history for
// COPY and ADD ("COPY file:<hex> in /dest ", "COPY dir:<hex> in /dest/ ",
// "ADD multi:<hex> in /dest/ "), computed as moby computes them (builder/dockerfile
// copy.go over builder/remotecontext, whose sums come from pkg/tarsum Version1 run
// over the context tar the docker CLI sends), so the same context gives the same
// history line in both engines:
//   - an entry's sum: sha256 over its tar header fields, each written as key and
//     value with nothing between (name, mode, uid, gid, size, typeflag, linkname,
//     uname, gname, devmajor, devminor; Version1 leaves out mtime), then its content.
//     The CLI's context tar names entries relative to the context root (directories
//     with a trailing "/"), owns them 0:0 with no user or group names, and writes
//     the permission bits (with setuid/setgid/sticky) as the mode.
//   - a file source: "file:" + its sum.
//   - a folder source: "dir:" + sha256 of the sums of the folder and of everything
//     under it, sorted, joined with ",".
//   - several sources: "multi:" + sha256 of their hashes joined with ",", in order.
// Checked against a real Docker 20.10 (test/build/docker-fidelity.test.ts).
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync } from 'node:fs';

function header(name: string, mode: number, size: number, typeflag: string, linkname: string): string {
  return `name${name}mode${mode}uid0gid0size${size}typeflag${typeflag}linkname${linkname}unamegnamedevmajor0devminor0`;
}

/** tarsum Version1 sum of one context entry (abs on disk, rel from the context root). */
async function entrySum(abs: string, rel: string): Promise<string> {
  const st = lstatSync(abs);
  const h = createHash('sha256');
  const perm = st.mode & 0o7777;
  if (st.isDirectory()) h.update(header(rel + '/', perm, 0, '5', ''));
  else if (st.isSymbolicLink()) h.update(header(rel, 0o777, 0, '2', readlinkSync(abs)));
  else if (st.isFIFO()) h.update(header(rel, perm, 0, '6', ''));
  else {
    h.update(header(rel, perm, st.size, '0', ''));
    for await (const c of createReadStream(abs, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  }
  return h.digest('hex');
}

/**
 * "file:<hex>" or "dir:<hex>" for one source at abs, rel (no leading "/"; "" for the
 * context root, which is not an entry of its own) from the context root. `ignored`
 * names what .dockerignore keeps out of the context tar.
 */
export async function sourceHash(abs: string, rel: string, ignored: (rel: string) => boolean = () => false): Promise<string> {
  if (!lstatSync(abs).isDirectory()) return 'file:' + await entrySum(abs, rel);
  const sums: string[] = [];
  const walk = async (a: string, r: string): Promise<void> => {
    if (r !== '') {
      if (ignored(r)) return;
      sums.push(await entrySum(a, r));
    }
    if (!lstatSync(a).isDirectory()) return;
    for (const n of readdirSync(a)) await walk(`${a}/${n}`, r === '' ? n : `${r}/${n}`);
  };
  await walk(abs, rel);
  sums.sort();
  return 'dir:' + createHash('sha256').update(sums.join(',')).digest('hex');
}

/** The history digest of a COPY/ADD with these per-source hashes. */
export function copyHash(hashes: string[]): string {
  if (hashes.length === 1) return hashes[0]!;
  return 'multi:' + createHash('sha256').update(hashes.join(',')).digest('hex');
}
