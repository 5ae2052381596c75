// reference.ts: image references in Docker's grammar (the distribution/reference
// module), normalised the way Docker normalises them:
//
//   [domain[:port]/]path[:tag][@digest]
//
// "busybox" is docker.io/library/busybox:latest, "index.docker.io/x/y" is
// docker.io/x/y, and the familiar form drops docker.io and library/ again.
// Error messages keep Docker's wording because users and scripts match on them.
import { invalidArgument } from '../errors.js';

export interface Reference {
  /** Registry host with optional port, e.g. "docker.io", "localhost:5000". */
  domain: string;
  /** Repository path below the domain, e.g. "library/busybox". */
  path: string;
  tag?: string;
  /** "<algorithm>:<hex>". */
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** Longest repository name (domain + "/" + path) Docker accepts. */
export const NAME_TOTAL_LENGTH_MAX = 255;
/** Inputs longer than this are refused before any regular expression runs on them
 *  (a name is at most 255, a tag 128, a sha512 digest 135 characters). */
const INPUT_LENGTH_MAX = 1024;

// The grammar, one production per constant. Every alternation below is between
// disjoint character classes, so the backtracking engine stays linear on the
// path part; the optional domain adds at most a quadratic factor on inputs
// already capped at INPUT_LENGTH_MAX.
const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|-+)';
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[[a-fA-F0-9:]+\\]';
const domainAndPort = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePat = `(?:${domainAndPort}/)?${remoteName}`;
const tagPat = '[\\w][\\w.-]{0,127}';
const digestPat = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';

const referenceRe = new RegExp(`^(${namePat})(?::(${tagPat}))?(?:@(${digestPat}))?$`);
const anchoredNameRe = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const tagRe = new RegExp(`^${tagPat}$`);
const identifierRe = /^[a-f0-9]{64}$/;

/** Hex lengths of the digest algorithms we accept. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** Validates "<algorithm>:<hex>" and returns it; messages follow go-digest's. */
export function validateDigestString(d: string): string {
  const i = d.indexOf(':');
  if (i <= 0 || i + 1 === d.length) throw invalidArgument('invalid checksum digest format', { name: d });
  const algo = d.slice(0, i);
  const hex = d.slice(i + 1);
  const want = DIGEST_HEX_LENGTH[algo];
  if (want === undefined) {
    if (!new RegExp(`^${digestPat}$`).test(d)) throw invalidArgument('invalid checksum digest format', { name: d });
    throw invalidArgument('unsupported digest algorithm', { name: d });
  }
  if (hex.length !== want) throw invalidArgument('invalid checksum digest length', { name: d });
  if (!/^[a-f0-9]+$/.test(hex)) throw invalidArgument('invalid checksum digest format', { name: d });
  return d;
}

function formatError(s: string): never {
  throw invalidArgument('invalid reference format', { name: s });
}

/** Docker's reference.Parse: the strict form, no normalisation. Domain is "" when absent. */
export function parseStrict(s: string): Reference {
  if (s.length > INPUT_LENGTH_MAX) formatError(s);
  const m = referenceRe.exec(s);
  if (m === null) {
    if (s === '') throw invalidArgument('repository name must have at least one component', { name: s });
    if (referenceRe.test(s.toLowerCase())) throw invalidArgument('repository name must be lowercase', { name: s });
    formatError(s);
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidArgument(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`, { name: s });
  }
  const nm = anchoredNameRe.exec(name);
  const ref: Reference = { domain: nm?.[1] ?? '', path: nm?.[2] ?? name };
  if (m[2] !== undefined) ref.tag = m[2];
  if (m[3] !== undefined) ref.digest = validateDigestString(m[3]);
  return ref;
}

/** Docker's splitDockerDomain: decides whether the first component is a registry. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remote: string;
  if (first === 'localhost') [domain, remote] = [first, rest];
  else if (first === LEGACY_DEFAULT_DOMAIN) [domain, remote] = [DEFAULT_DOMAIN, rest];
  else if (/[.:]/.test(first)) [domain, remote] = [first, rest];
  // Namespaces are lowercase, so a first component with capitals can only be a host.
  else if (first.toLowerCase() !== first) [domain, remote] = [first, rest];
  else [domain, remote] = [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !remote.includes('/')) remote = OFFICIAL_REPO_PREFIX + remote;
  return [domain, remote];
}

export interface ParseOptions {
  /** Add tag "latest" when the reference has neither tag nor digest (default true). */
  defaultTag?: boolean;
}

/**
 * Parses a reference as the Docker CLI does (ParseNormalizedNamed), filling in
 * docker.io, library/ and, unless opts.defaultTag is false, the tag "latest".
 * Throws StowageError('InvalidArgument') with Docker's messages.
 */
export function parseReference(s: string, opts: ParseOptions = {}): Reference {
  if (s.length > INPUT_LENGTH_MAX) formatError(s);
  if (identifierRe.test(s)) {
    throw invalidArgument(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`, { name: s });
  }
  const [domain, remainder] = splitDomain(s);
  const colon = remainder.indexOf(':');
  const remote = colon >= 0 ? remainder.slice(0, colon) : remainder;
  if (remote.toLowerCase() !== remote) {
    throw invalidArgument(`invalid reference format: repository name (${remote}) must be lowercase`, { name: s });
  }
  const ref = parseStrict(`${domain}/${remainder}`);
  if (ref.domain === '') formatError(s); // cannot happen: splitDomain always yields a domain
  if (ref.tag === undefined && ref.digest === undefined && opts.defaultTag !== false) ref.tag = DEFAULT_TAG;
  return ref;
}

/** "docker.io/library/busybox": the repository name with domain, without tag or digest. */
export function normalizedName(r: Reference): string {
  return r.domain === '' ? r.path : `${r.domain}/${r.path}`;
}

/** The full normalised string: "docker.io/library/busybox:latest", "x.io/a@sha256:…". */
export function referenceString(r: Reference): string {
  return normalizedName(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** The name as Docker shows it: "busybox", "myrepo/app", "localhost:5000/x". */
export function familiarName(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return normalizedName(r);
  if (r.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = r.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return r.path;
}

/** "busybox:latest", "myrepo/app@sha256:…": the form `docker images` and manifest.json use. */
export function familiarString(r: Reference): string {
  return familiarName(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** True when s is a valid tag on its own. */
export function isValidTag(s: string): boolean {
  return tagRe.test(s);
}

/**
 * When s could name an image by id: a full "sha256:<64 hex>", a bare 64-hex id,
 * or a short hex prefix (Docker shows 12). Returns the lowercase hex prefix, or
 * undefined. A short prefix may also be a valid name ("cafe"); callers try the
 * name first, as Docker does.
 */
export function parseImageIdPrefix(s: string): string | undefined {
  const hex = s.startsWith('sha256:') ? s.slice(7) : s;
  if (hex.length === 0 || hex.length > 64 || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return hex;
}

export function isImageIdPrefix(s: string): boolean {
  return parseImageIdPrefix(s) !== undefined;
}

/** What a user-given image argument is: an id (or id prefix), or a reference. */
export type ImageArg = { kind: 'id'; hexPrefix: string; full: boolean } | { kind: 'reference'; ref: Reference };

/**
 * Docker's ParseAnyReference for CLI arguments: a 64-hex string or "sha256:<hex>"
 * is an id; anything else is parsed as a reference. Short hex strings are
 * returned as references (they are valid names); use parseImageIdPrefix as the fallback.
 */
export function parseImageArg(s: string, opts: ParseOptions = {}): ImageArg {
  if (identifierRe.test(s)) return { kind: 'id', hexPrefix: s, full: true };
  if (s.startsWith('sha256:')) {
    const hex = parseImageIdPrefix(s);
    if (hex === undefined) throw invalidArgument('invalid checksum digest format', { name: s });
    return { kind: 'id', hexPrefix: hex, full: hex.length === 64 };
  }
  return { kind: 'reference', ref: parseReference(s, opts) };
}
