// names.ts: random container names in Docker's "adjective_surname" style.
import { randomInt } from 'node:crypto';

const LEFT = ['admiring', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'brave', 'busy', 'charming',
  'clever', 'compassionate', 'confident', 'cool', 'dazzling', 'determined', 'eager', 'ecstatic', 'elastic', 'elated',
  'epic', 'festive', 'focused', 'friendly', 'funny', 'gallant', 'gifted', 'goofy', 'happy', 'hopeful', 'jolly',
  'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'nice', 'nifty', 'optimistic',
  'peaceful', 'pensive', 'practical', 'quirky', 'relaxed', 'serene', 'sharp', 'stoic', 'sweet', 'tender', 'trusting',
  'upbeat', 'vibrant', 'wizardly', 'wonderful', 'youthful', 'zealous', 'zen'];
const RIGHT = ['agnesi', 'albattani', 'archimedes', 'babbage', 'bardeen', 'bartik', 'bell', 'bhabha', 'booth', 'borg',
  'brahmagupta', 'cannon', 'carson', 'cerf', 'curie', 'darwin', 'dijkstra', 'einstein', 'euclid', 'euler', 'faraday',
  'fermat', 'feynman', 'galileo', 'gauss', 'goldberg', 'goodall', 'hamilton', 'hawking', 'hopper', 'hypatia', 'johnson',
  'kepler', 'knuth', 'lamarr', 'lamport', 'leakey', 'lovelace', 'mayer', 'mccarthy', 'meitner', 'mirzakhani',
  'morse', 'napier', 'newton', 'noether', 'pascal', 'pasteur', 'perlman', 'ramanujan', 'ritchie', 'shannon',
  'sinoussi', 'tesla', 'thompson', 'torvalds', 'turing', 'wilson', 'wozniak', 'yalow'];

export function randomName(retry = 0): string {
  const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
  return retry > 0 ? `${n}${randomInt(10)}` : n;
}
