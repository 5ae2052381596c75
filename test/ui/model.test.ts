// model.test.ts: the store page's layout of layers, images and containers (ui/model.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRows, containersPerLayer, humanSize, volumeUsers, type StoreData, type LayerNode } from '../../ui/model.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const layer = (n: number, parent: number | null, images: string[], createdBy = `step ${n}`): LayerNode =>
  ({ id: `L${n}`, parent: parent === null ? null : `L${parent}`, chainId: `sha256:${hex(n)}`, diffId: `sha256:${hex(1000 + n)}`, size: n * 100, createdBy, images });

/** base L1 shared by app (L1-L2-L3) and tool (L1-L4); one container of app; a volume. */
function store(): StoreData {
  return {
    graph: {
      driver: 'overlay2',
      layers: [layer(1, null, ['sha256:app', 'sha256:tool']), layer(2, 1, ['sha256:app']), layer(3, 2, ['sha256:app']), layer(4, 1, ['sha256:tool'])],
      images: [{ id: 'sha256:app', layers: ['L1', 'L2', 'L3'] }, { id: 'sha256:tool', layers: ['L1', 'L4'] }],
    },
    images: [
      { Id: 'sha256:app', RepoTags: ['app:1'], Size: 600, Created: 2 },
      { Id: 'sha256:tool', RepoTags: null, Size: 500, Created: 1 },
    ],
    containers: [{ Id: 'c1'.padEnd(64, '0'), Names: ['/web'], Image: 'app:1', ImageID: 'sha256:app', State: 'running', Status: 'Up', SizeRw: 42,
      Mounts: [{ Type: 'volume', Name: 'data_volume', Source: '/x', Destination: '/var/lib/mysql' }, { Type: 'bind', Source: '/h', Destination: '/b' }] }],
    volumes: [{ Name: 'data_volume', Driver: 'local', Mountpoint: '/x', Labels: {}, Scope: 'local' }],
    volumeSizes: new Map([['data_volume', 7]]),
  };
}

describe('store page model', () => {
  it('draws a shared layer once, with both images below their own top layers', () => {
    const rows = buildRows(store());
    const layers = rows.filter((r) => r.kind === 'layer');
    assert.deepEqual(layers.map((r) => r.id), ['L1', 'L2', 'L3', 'L4']);
    const base = rows.find((r) => r.id === 'L1')!;
    assert.equal(base.shared, true);
    assert.deepEqual(base.badges, ['2 images', '1 container']);
    assert.equal(rows.find((r) => r.id === 'L2')!.shared, false);
    // the images hang under their top layers, the container under its image
    const order = rows.map((r) => `${r.kind}:${r.id}`);
    assert.deepEqual(order, ['layer:L1', 'layer:L2', 'layer:L3', 'image:sha256:app', 'container:' + 'c1'.padEnd(64, '0'), 'layer:L4', 'image:sha256:tool']);
    const tool = rows.find((r) => r.id === 'sha256:tool')!;
    assert.equal(tool.dangling, true);
    assert.match(tool.label, /^<none> /);
  });

  it('indents only where the tree branches', () => {
    const rows = buildRows(store());
    const depth = Object.fromEntries(rows.map((r) => [r.id, r.depth]));
    assert.equal(depth.L1, 0);
    assert.equal(depth.L2, 1); // L1 branches (L2 and L4)
    assert.equal(depth.L3, 1); // single child: same indent
    assert.equal(depth['sha256:app'], 2);
    assert.equal(depth.L4, 1);
  });

  it('a 500-layer chain is 500 rows at one indent and takes no recursion', () => {
    const layers: LayerNode[] = [];
    for (let i = 1; i <= 500; i++) layers.push(layer(i, i === 1 ? null : i - 1, ['sha256:deep']));
    const d: StoreData = { graph: { driver: 'overlay2', layers, images: [{ id: 'sha256:deep', layers: layers.map((l) => l.id) }] },
      images: [{ Id: 'sha256:deep', RepoTags: ['deep:latest'], Size: 1, Created: 1 }], containers: [], volumes: [], volumeSizes: new Map() };
    const rows = buildRows(d);
    assert.equal(rows.length, 501);
    assert.ok(rows.filter((r) => r.kind === 'layer').every((r) => r.depth === 0));
  });

  it('a filter keeps the matches and what they stand on', () => {
    const rows = buildRows(store(), 'web');
    assert.deepEqual(rows.map((r) => r.id), ['L1', 'L2', 'L3', 'sha256:app', 'c1'.padEnd(64, '0')]);
    assert.deepEqual(buildRows(store(), 'no such thing'), []);
    const byCommand = buildRows(store(), 'step 4');
    assert.deepEqual(byCommand.map((r) => r.id), ['L1', 'L4']);
  });

  it('counts containers per layer and volume users from Mounts', () => {
    const per = containersPerLayer(store());
    assert.equal(per.get('L1'), 1);
    assert.equal(per.get('L4'), undefined);
    const users = volumeUsers(store().containers);
    assert.deepEqual([...users.keys()], ['data_volume']);
  });

  it('prints sizes as Docker does', () => {
    const cases: Array<[number, string]> = [[0, '0B'], [999, '999B'], [1000, '1kB'], [769_000, '769kB'], [185_892_590, '186MB'], [1_500_000_000, '1.5GB']];
    for (const [n, s] of cases) assert.equal(humanSize(n), s, String(n));
    assert.equal(humanSize(null), '—');
  });
});
