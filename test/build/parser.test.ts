// Dockerfile parser and word expansion: table-driven cases, and a fuzz loop that
// feeds random text and checks the parser only ever returns or throws our error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, splitStages, rawPairs, rawArgs, fromParts, parseDuration } from '../../src/build/parser.js';
import { expandWord, expandWords } from '../../src/build/words.js';
import { IgnoreMatcher, globMatch } from '../../src/build/context.js';
import { StowageError } from '../../src/errors.js';

const vars: Record<string, string> = { A: 'a', EMPTY: '', SP: 'x y', HOME: '/root' };
const lookup = (k: string) => vars[k];

describe('word expansion', () => {
  const cases: Array<{ doc: string; input: string; expect: string }> = [
    { doc: 'plain', input: 'abc', expect: 'abc' },
    { doc: '$VAR', input: '$A-b', expect: 'a-b' },
    { doc: '${VAR}', input: '${A}b', expect: 'ab' },
    { doc: 'unset is empty', input: '[$NOPE]', expect: '[]' },
    { doc: ':- on unset', input: '${NOPE:-def}', expect: 'def' },
    { doc: ':- on empty', input: '${EMPTY:-def}', expect: 'def' },
    { doc: '- on empty keeps empty', input: '${EMPTY-def}', expect: '' },
    { doc: ':+ on set', input: '${A:+alt}', expect: 'alt' },
    { doc: ':+ on unset', input: '${NOPE:+alt}', expect: '' },
    { doc: 'nested default', input: '${NOPE:-$HOME/x}', expect: '/root/x' },
    { doc: 'single quotes are literal', input: "'$A'", expect: '$A' },
    { doc: 'double quotes expand', input: '"$A b"', expect: 'a b' },
    { doc: 'escaped dollar', input: '\\$A', expect: '$A' },
    { doc: 'escaped quote in double quotes', input: '"a\\"b"', expect: 'a"b' },
    { doc: 'lone dollar', input: 'a$', expect: 'a$' },
    { doc: 'values are not re-scanned', input: '$SP', expect: 'x y' },
  ];
  for (const c of cases) it(c.doc, () => assert.equal(expandWord(c.input, lookup), c.expect));
  it('splits words on unquoted blanks, also from variables', () => {
    assert.deepEqual(expandWords('a "b c" $SP', lookup), ['a', 'b c', 'x', 'y']);
    assert.deepEqual(expandWords('"$SP"', lookup), ['x y']);
  });
  it('refuses bad substitutions', () => {
    assert.throws(() => expandWord('${A', lookup), /missing '}'/);
    assert.throws(() => expandWord('${A:%x}', lookup), /unsupported modifier/);
    assert.throws(() => expandWord('${NOPE:?must be set}', lookup), /must be set/);
    assert.throws(() => expandWord('"abc', lookup), /double-quote/);
  });
  it('uses the escape directive\'s character', () => {
    assert.equal(expandWord('`$A', lookup, '`'), '$A');
    assert.equal(expandWord('C:\\dir', lookup, '`'), 'C:\\dir');
  });
});

describe('Dockerfile parser', () => {
  it('directives, comments, continuations, JSON and shell forms, flags', () => {
    const df = parseDockerfile([
      '# syntax=docker/dockerfile:1', '# escape=\\', '# a comment', '',
      'FROM --platform=linux/amd64 busybox:1.36 AS base',
      'RUN echo a \\', '  # comment inside', '  && echo b',
      'CMD ["sh", "-c", "echo hi"]', 'COPY --chown=1:2 --from=base a b /dst/',
      'entrypoint echo lower',
    ].join('\n'));
    assert.equal(df.syntax, 'docker/dockerfile:1');
    assert.deepEqual(df.instructions.map((i) => i.keyword), ['FROM', 'RUN', 'CMD', 'COPY', 'ENTRYPOINT']);
    const [from, run, cmd, copy] = df.instructions;
    assert.equal(from!.flags.platform, 'linux/amd64');
    assert.deepEqual(fromParts(from!), { image: 'busybox:1.36', name: 'base' });
    assert.equal(run!.rest, 'echo a   && echo b');
    assert.equal(run!.line, 6);
    assert.deepEqual(cmd!.json, ['sh', '-c', 'echo hi']);
    assert.deepEqual(copy!.flags, { chown: '1:2', from: 'base' });
    assert.equal(copy!.rest, 'a b /dst/');
  });
  it('escape directive with backtick', () => {
    const df = parseDockerfile('# escape=`\nFROM x\nRUN dir `\n  c:\\');
    assert.equal(df.escape, '`');
    assert.equal(df.instructions[1]!.rest, 'dir   c:\\');
  });
  it('heredocs for RUN and COPY, <<- strips tabs, quoted terminators do not expand', () => {
    const df = parseDockerfile('FROM x\nRUN <<EOF\necho 1\necho 2\nEOF\nCOPY <<-"END" /f\n\thello $X\n\tEND\nRUN echo done');
    const [, run, copy, last] = df.instructions;
    assert.deepEqual(run!.heredocs, [{ name: 'EOF', body: 'echo 1\necho 2\n', expand: true, chomp: false }]);
    assert.deepEqual(copy!.heredocs, [{ name: 'END', body: 'hello $X\n', expand: false, chomp: true }]);
    assert.equal(last!.line, 9);
  });
  it('ENV/LABEL pairs, legacy form, ARG defaults', () => {
    const df = parseDockerfile('FROM x\nENV A=1 B="two words" C=\'$x\'\nENV LEGACY some value\nARG X Y=2\nLABEL "k k"=v');
    assert.deepEqual(rawPairs(df.instructions[1]!, '\\'), [['A', '1'], ['B', '"two words"'], ['C', "'$x'"]]);
    assert.deepEqual(rawPairs(df.instructions[2]!, '\\'), [['LEGACY', 'some value']]);
    assert.deepEqual(rawArgs(df.instructions[3]!, '\\'), [['X', undefined], ['Y', '2']]);
    assert.deepEqual(rawPairs(df.instructions[4]!, '\\'), [['"k k"', 'v']]);
  });
  it('stages: global ARGs, names, duplicates refused', () => {
    const s = splitStages(parseDockerfile('ARG V=1\nFROM a:$V AS one\nRUN x\nFROM one\nCOPY --from=one / /'));
    assert.equal(s.globalArgs.length, 1);
    assert.deepEqual(s.stages.map((x) => [x.name, x.instructions.length]), [['one', 1], [undefined, 1]]);
    assert.throws(() => splitStages(parseDockerfile('FROM a AS x\nFROM b AS x')), /duplicate name/);
    assert.throws(() => splitStages(parseDockerfile('RUN x\nFROM a')), /line 1: no build stage/);
  });
  it('durations', () => {
    assert.equal(parseDuration('30s'), 30e9);
    assert.equal(parseDuration('1m30s'), 90e9);
    assert.equal(parseDuration('500ms'), 5e8);
    assert.equal(parseDuration('abc'), null);
  });
  const bad: Array<{ doc: string; input: string; expect: RegExp }> = [
    { doc: 'unknown instruction named, with its line', input: 'FROM x\n\nFOO bar', expect: /line 3: unknown instruction: FOO/ },
    { doc: 'missing arguments', input: 'FROM x\nRUN', expect: /line 2: RUN requires at least one argument/ },
    { doc: 'FROM with two words', input: 'FROM a b', expect: /line 1: FROM requires either one or three arguments/ },
    { doc: 'bad stage name', input: 'FROM a AS 1x', expect: /invalid name for build stage/ },
    { doc: 'ENV without =', input: 'FROM a\nENV A=1 B', expect: /line 2: Syntax error - can't find = in "B"/ },
    { doc: 'SHELL not JSON', input: 'FROM a\nSHELL sh -c', expect: /SHELL requires the arguments to be in JSON form/ },
    { doc: 'COPY with one argument', input: 'FROM a\nCOPY x', expect: /COPY requires at least two arguments/ },
    { doc: 'unknown flag', input: 'FROM a\nCOPY --bogus=1 a b', expect: /unknown flag: --bogus/ },
    { doc: 'flag without value', input: 'FROM a\nCOPY --from= a b', expect: /missing a value on flag: --from/ },
    { doc: 'ONBUILD ONBUILD', input: 'FROM a\nONBUILD ONBUILD RUN x', expect: /Chaining ONBUILD/ },
    { doc: 'ONBUILD FROM', input: 'FROM a\nONBUILD FROM b', expect: /FROM isn't allowed as an ONBUILD trigger/ },
    { doc: 'HEALTHCHECK type', input: 'FROM a\nHEALTHCHECK RUN x', expect: /Unknown type "RUN" in HEALTHCHECK/ },
    { doc: 'HEALTHCHECK duration', input: 'FROM a\nHEALTHCHECK --interval=xx CMD true', expect: /invalid duration for --interval/ },
    { doc: 'unterminated heredoc', input: 'FROM a\nRUN <<EOF\necho', expect: /line 2: unterminated heredoc/ },
    { doc: 'bad escape directive', input: '# escape=x\nFROM a', expect: /invalid escape token/ },
    { doc: 'RUN --mount', input: 'FROM a\nRUN --mount=type=cache,target=/x true', expect: /BuildKit feature/ },
  ];
  for (const b of bad) it(`refuses: ${b.doc}`, () => assert.throws(() => splitStages(parseDockerfile(b.input)), b.expect));

  it('fuzz: random Dockerfile-like text parses or fails with an InvalidArgument, never crashes', () => {
    let seed = 12345;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const atoms = ['FROM', 'RUN', 'COPY', 'ENV', 'ARG', 'LABEL', 'ONBUILD', 'HEALTHCHECK', 'SHELL', 'X', ' ', '\\', '\n', '"', "'", '$', '{', '}', ':-', '[', ']', '<<EOF', 'EOF', '--from=', '=', '#', 'a', 'b c', '\t', '`', 'AS', 'CMD'];
    for (let n = 0; n < 3000; n++) {
      let s = '';
      const len = 1 + rnd(40);
      for (let k = 0; k < len; k++) s += atoms[rnd(atoms.length)];
      try {
        const df = parseDockerfile(s);
        for (const ins of df.instructions) {
          try { expandWord(ins.rest, lookup); expandWords(ins.rest, lookup); } catch (e) { assert.ok(e instanceof StowageError, String(e)); }
        }
        try { splitStages(df); } catch (e) { assert.ok(e instanceof StowageError, String(e)); }
      } catch (e) {
        assert.ok(e instanceof StowageError && e.kind === 'InvalidArgument', `input ${JSON.stringify(s)}: ${String(e)}`);
      }
    }
  });
});

describe('.dockerignore and globs', () => {
  const cases: Array<{ doc: string; patterns: string; path: string; ignored: boolean }> = [
    { doc: 'plain name', patterns: 'node_modules', path: 'node_modules', ignored: true },
    { doc: 'parent folder matches', patterns: 'node_modules', path: 'node_modules/x/y.js', ignored: true },
    { doc: 'star does not cross /', patterns: '*.md', path: 'docs/a.md', ignored: false },
    { doc: 'double star', patterns: '**/*.md', path: 'docs/deep/a.md', ignored: true },
    { doc: 'exception', patterns: '*.md\n!README.md', path: 'README.md', ignored: false },
    { doc: 'exception after', patterns: '*.md\n!README.md', path: 'CHANGES.md', ignored: true },
    { doc: 'leading slash and comments', patterns: '# c\n/tmp', path: 'tmp/x', ignored: true },
    { doc: 'question mark', patterns: 'a?c', path: 'abc', ignored: true },
    { doc: 'character class', patterns: 'f[0-9]', path: 'f7', ignored: true },
  ];
  for (const c of cases) it(c.doc, () => assert.equal(new IgnoreMatcher(c.patterns).ignores(c.path), c.ignored));
  it('globMatch follows filepath.Match', () => {
    assert.ok(globMatch('src/*.js', 'src/a.js'));
    assert.ok(!globMatch('src/*.js', 'src/sub/a.js'));
    assert.ok(globMatch('*', 'anything'));
  });
});
