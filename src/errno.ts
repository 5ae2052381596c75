// errno.ts: Node's system-error text ("ENAMETOOLONG: name too long, mkdir '/x/…'",
// "ENOENT: no such file or directory, lstat '/x'") rewritten the way Docker's Go
// errors read ("mkdir /x/…: file name too long"), so that no raw errno code ever
// reaches a user. Front ends pass every message through plainMessage; code that
// knows better (a volume name too long, a bind source missing) says so itself first.

const PHRASES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'file exists',
  ENOTEMPTY: 'directory not empty',
  ENAMETOOLONG: 'file name too long (at most 255 bytes per name, 4095 per path)',
  ELOOP: 'too many levels of symbolic links',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EXDEV: 'invalid cross-device link',
  EBUSY: 'device or resource busy (still mounted or in use)',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files',
  EINVAL: 'invalid argument',
  EIO: 'input/output error',
  ENODEV: 'no such device',
  ENXIO: 'no such device or address',
  ESTALE: 'stale file handle',
  EFBIG: 'file too large',
  ETXTBSY: 'text file busy',
};

/** The readable phrase for an errno code ("ENOENT" → "no such file or directory"). */
export function errnoPhrase(code: string): string {
  return PHRASES[code] ?? code.toLowerCase().replace(/^e/, 'error ');
}

// CODE: description, syscall 'path'[ -> 'dest']   (Node's uvException format)
const NODE_FS = /\b(E[A-Z0-9]{2,}): [^,'\n]*, ([a-z_0-9]+)(?: '([^'\n]*)')?(?: -> '([^'\n]*)')?/g;
// CODE: description (no syscall): spawn errors and the like
const BARE = /\b(E[A-Z0-9]{2,}): ([a-z][^,\n]*)/g;

// spawn CMD ENOENT: a program that is not installed
const SPAWN = /\bspawn(?:Sync)? (\S+) (E[A-Z0-9]{2,})\b/g;

/** A message with Node's errno forms rewritten; other text is left as it is. */
export function plainMessage(msg: string): string {
  return msg
    .replace(SPAWN, (_all, cmd: string, code: string) => `${cmd}: ${code === 'ENOENT' ? 'executable file not found in $PATH' : errnoPhrase(code)}`)
    .replace(NODE_FS, (_all, code: string, syscall: string, path?: string, dest?: string) =>
      `${syscall}${path !== undefined ? ` ${path}` : ''}${dest !== undefined ? ` to ${dest}` : ''}: ${errnoPhrase(code)}`)
    .replace(BARE, (_all, code: string, rest: string) => (code in PHRASES ? errnoPhrase(code) : rest))
    // a lone code ("mount … on …: ENOENT", from a native call): its phrase
    .replace(LONE, (all, code: string) => (code in PHRASES ? errnoPhrase(code) : all));
}

const LONE = /\b(E[A-Z0-9]{2,})\b(?!:)/g;
