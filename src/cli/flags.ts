// flags.ts: commander made to read flags as the docker CLI's parser (spf13/pflag)
// does, where the two differ in ways users meet:
//   - `-v=data:/x` (a shorthand, "=", a value): pflag drops the "=", commander keeps it
//     ("=data:/x"); `-dv=data:/x` likewise. `-v =x` (a separate argument) keeps it in both.
//   - an unknown flag: Docker says `unknown flag: --bogus` (or `unknown shorthand flag:
//     'z' in -z`) and `See 'docker run --help'.`; commander says `error: unknown option`.
// applyDockerFlagRules(program) installs both on every command, once, before parsing.
import type { Command, Option } from 'commander';

interface CommandInternals {
  _passThroughOptions?: boolean;
  _enablePositionalOptions?: boolean;
  parseOptions(args: string[]): { operands: string[]; unknown: string[] };
  unknownOption(flag: string): never;
}

function takesValue(o: Option | undefined): boolean {
  return !!o && (o.required || o.optional);
}

function commandPath(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/** argv with pflag's `-X=value` shorthand form rewritten to commander's `-Xvalue`. */
export function pflagShorthands(cmd: Command, args: string[]): string[] {
  const out = [...args];
  const internals = cmd as unknown as CommandInternals;
  const passThrough = !!internals._passThroughOptions || !!internals._enablePositionalOptions;
  const find = (flag: string) => cmd.options.find((o) => o.short === flag || o.long === flag);
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    if (a === '--') break;
    if (a.startsWith('--')) {
      if (!a.includes('=') && takesValue(find(a))) i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // A cluster of shorthands: the first that takes a value takes the rest (or the next argument).
      for (let k = 1; k < a.length; k++) {
        const o = find(`-${a[k]}`);
        if (!takesValue(o)) continue;
        const rest = a.slice(k + 1);
        if (rest === '') i++;
        else if (rest.startsWith('=') && rest.length > 1) out[i] = a.slice(0, k + 1) + rest.slice(1);
        break;
      }
      continue;
    }
    if (passThrough) break; // the first operand ends the options (the rest is the container's command)
  }
  return out;
}

/** Installs Docker's flag reading and unknown-flag message on cmd and every subcommand. */
export function applyDockerFlagRules(cmd: Command): void {
  const internals = cmd as unknown as CommandInternals;
  const parse = internals.parseOptions.bind(cmd);
  internals.parseOptions = (args: string[]) => parse(pflagShorthands(cmd, args));
  internals.unknownOption = (flag: string): never => {
    const what = flag.startsWith('--') ? `unknown flag: ${flag.split('=')[0]}` : `unknown shorthand flag: '${flag[1] ?? ''}' in ${flag}`;
    return cmd.error(`${what}\nSee '${commandPath(cmd)} --help'.`, { code: 'commander.unknownOption', exitCode: 125 });
  };
  for (const sub of cmd.commands) applyDockerFlagRules(sub);
}
