// names.ts: layer paths as byte strings.
//
// A tar entry name is bytes, and nothing makes them UTF-8: a layer may hold a file
// named b"caf\xe9" (Latin-1), and Docker keeps it byte for byte on disk, in export
// and in save. A JS string decoded as UTF-8 would turn such bytes into U+FFFD and
// write a different name. So the layer code (tar reading with binaryNames, apply,
// tar-split, changes/export) carries every path as a "byte string": latin1-decoded,
// one char per byte, so any byte sequence survives, and ASCII reads as itself.
// Rules: never pass a byte string to fs as a string (it would be re-encoded as
// UTF-8): pass P(s), a Buffer; turn a normal path into one with B(path); show one
// to a person (messages, `diff` output) with shown(s).

/** A byte-string path as the Buffer the fs calls take. */
export function P(s: string): Buffer { return Buffer.from(s, 'latin1'); }

/** A normal (UTF-8) path as a byte string. */
export function B(s: string): string { return Buffer.from(s).toString('latin1'); }

/** A byte string shown to a person: decoded as UTF-8 (an invalid byte shows as U+FFFD). */
export function shown(s: string): string { return Buffer.from(s, 'latin1').toString('utf8'); }
