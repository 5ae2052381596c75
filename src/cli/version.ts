// version.ts: the version shown by `stowage version` and `--version`.
export const VERSION = '0.1.0';
export const API_VERSION = '1.41';
