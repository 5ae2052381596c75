// content/store.ts: blobs addressed by sha256 (image configs, manifests, indexes).
// A write is staged in tmp/, hashed while written, fsynced, checked against the
// expected digest and size, made read-only and renamed into blobs/sha256/<hex>.
// When the target already exists (another process wrote it first), the existing
// file is verified rather than trusted. A mismatch leaves nothing behind.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, chmodSync, statSync, readdirSync, createReadStream } from 'node:fs';
import type { Layout } from '../store/layout.js';
import { errnoCode, invalidArgument, notFound, internal } from '../errors.js';
import { failpoint } from '../util/failpoint.js';

const DIGEST_RE = /^sha256:([a-f0-9]{64})$/;

export function hexOf(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw invalidArgument(`invalid digest "${digest}": want sha256:<64 hex digits>`, { name: digest });
  return m[1]!;
}

export function sha256(buf: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(buf).digest('hex');
}

export class ContentStore {
  constructor(private readonly layout: Layout) {}

  path(digest: string): string {
    return this.layout.blob(hexOf(digest));
  }

  has(digest: string): boolean {
    try {
      statSync(this.path(digest));
      return true;
    } catch {
      return false;
    }
  }

  /** Reads a whole blob, verifying its digest (blobs here are small: configs and manifests). */
  read(digest: string): Buffer {
    let buf: Buffer;
    try {
      buf = readFileSync(this.path(digest));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw notFound(`blob ${digest} not found in the content store`, { name: digest, cause: err });
      throw err;
    }
    const got = sha256(buf);
    if (got !== digest) throw internal(`content store blob ${digest} is corrupt (its bytes hash to ${got}); run \`stowage system check --repair\``, { name: digest });
    return buf;
  }

  /** Writes buf; if expected is given, it must match. Returns the digest. */
  write(buf: Buffer, expected?: { digest?: string; size?: number }): string {
    const digest = sha256(buf);
    if (expected?.size !== undefined && expected.size !== buf.length) {
      throw invalidArgument(`blob size mismatch: expected ${expected.size} bytes, got ${buf.length}`, { name: expected.digest ?? digest });
    }
    if (expected?.digest !== undefined && expected.digest !== digest) {
      throw invalidArgument(`blob digest mismatch: expected ${expected.digest}, got ${digest}`, { name: expected.digest });
    }
    const target = this.path(digest);
    if (this.verifyExisting(target, digest)) return digest;
    const tmp = this.layout.tmpPath('blob');
    try {
      const fd = openSync(tmp, 'wx', 0o444);
      try {
        writeSync(fd, buf);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      failpoint('blob:staged');
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return digest;
  }

  /** true when target exists with the right bytes; a corrupt existing blob is removed so it can be rewritten. */
  private verifyExisting(target: string, digest: string): boolean {
    let existing: Buffer;
    try {
      existing = readFileSync(target);
    } catch {
      return false;
    }
    if (sha256(existing) === digest) return true;
    chmodSync(target, 0o644);
    rmSync(target, { force: true });
    return false;
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  list(): string[] {
    try {
      return readdirSync(this.layout.blobsDir).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
    } catch {
      return [];
    }
  }

  /** Re-hashes a blob from disk (streaming); true when it matches its name. */
  async verify(digest: string): Promise<boolean> {
    const h = createHash('sha256');
    try {
      for await (const chunk of createReadStream(this.path(digest))) h.update(chunk as Buffer);
    } catch {
      return false;
    }
    return `sha256:${h.digest('hex')}` === digest;
  }
}
