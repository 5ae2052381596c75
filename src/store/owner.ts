// owner.ts: identifies a live process across pid reuse, so that a record marked
// "being created by process P" can be judged abandoned when P is gone. A token is
// "pid:starttime" with starttime from /proc/PID/stat (clock ticks since boot).
import { readFileSync } from 'node:fs';

/** The process's start time, or null when it is gone (a zombie counts as gone: it will never act again). */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return null; // field 3: state
    return rest[19] ?? null; // field 22 overall
  } catch {
    return null;
  }
}

let self: string | undefined;
export function ownerToken(): string {
  if (!self) self = `${process.pid}:${startTime(process.pid) ?? '0'}`;
  return self;
}

export function ownerAlive(token: string | null | undefined): boolean {
  if (!token) return false;
  const [pidStr, start] = token.split(':');
  const pid = Number(pidStr);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return startTime(pid) === start;
}
