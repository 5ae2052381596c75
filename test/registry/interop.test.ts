// Interop through a registry with a real Docker engine (a private dockerd; loopback
// registries are insecure by default for it, as for stowage): what Docker pushes,
// stowage pulls with the same image ID, diffIDs and repo digest; what stowage
// pushes, Docker pulls with the same image ID.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir, requiresRoot, requires } from '../helpers/env.js';
import { startDockerd, dockerAvailable } from '../helpers/dockerd.js';
import { cli, fixtureArchive, haveRegistry, inspect, startRegistry } from './harness.js';

describe('registry interop with Docker', () => {
  it('docker push -> stowage pull, stowage push -> docker pull: same image IDs', async (t) => {
    if (!requiresRoot(t) || !requires(t, haveRegistry, 'docker-registry not installed')) return;
    if (!requires(t, dockerAvailable(), 'needs dockerd (Debian docker.io)')) return;
    const dir = tempDir(t);
    const reg = await startRegistry(t, dir);
    const d = await startDockerd(t);
    const s = cli(`${dir}/s`, 'overlay2');

    // Docker pushes (its own gzip), stowage pulls.
    const fromDocker = await fixtureArchive(dir, 'dk', [`${reg.host}/dk/app:1`]);
    await d.docker(['load', '-i', fromDocker.path], { check: true });
    const dpush = (await d.docker(['push', `${reg.host}/dk/app:1`], { check: true })).stdout.toString();
    const ddigest = /digest: (sha256:[a-f0-9]{64})/.exec(dpush)?.[1];
    assert.ok(ddigest, dpush);
    await s.ok(['pull', `${reg.host}/dk/app:1`]);
    const si = inspect(await s.ok(['image', 'inspect', `${reg.host}/dk/app:1`]));
    const di = inspect((await d.docker(['image', 'inspect', `${reg.host}/dk/app:1`], { check: true })).stdout.toString());
    assert.equal(si.Id, di.Id);
    assert.equal(si.Id, fromDocker.imageId);
    assert.deepEqual(si.RootFS.Layers, di.RootFS.Layers);
    assert.deepEqual(si.RepoDigests, [`${reg.host}/dk/app@${ddigest}`]);
    const run = await s.run(['run', '--rm', `${reg.host}/dk/app:1`]);
    assert.equal(run.stdout, 'hello from dk\n', run.stderr);
    // Pushed back under another name, Docker's blobs are mounted, not compressed again,
    // and the manifest is Docker's own byte for byte (same digest).
    await s.ok(['tag', `${reg.host}/dk/app:1`, `${reg.host}/dk/copy:1`]);
    const back = await s.ok(['push', `${reg.host}/dk/copy:1`]);
    assert.equal((back.match(/Mounted from dk\/app/g) ?? []).length, 3, back);
    assert.match(back, new RegExp(`1: digest: ${ddigest} size:`));

    // stowage pushes (its own gzip), Docker pulls.
    const fromStowage = await fixtureArchive(dir, 'st', [`${reg.host}/st/app:1`]);
    await s.ok(['load', '-i', fromStowage.path]);
    const spush = await s.ok(['push', `${reg.host}/st/app:1`]);
    const sdigest = /digest: (sha256:[a-f0-9]{64})/.exec(spush)?.[1];
    const dpull = (await d.docker(['pull', `${reg.host}/st/app:1`], { check: true })).stdout.toString();
    assert.match(dpull, new RegExp(`Digest: ${sdigest}`));
    const di2 = inspect((await d.docker(['image', 'inspect', `${reg.host}/st/app:1`], { check: true })).stdout.toString());
    assert.equal(di2.Id, fromStowage.imageId);
    assert.deepEqual(di2.RootFS.Layers, fromStowage.diffIds);
    const drun = await d.docker(['run', '--rm', '--network', 'none', `${reg.host}/st/app:1`]);
    assert.equal(drun.stdout.toString(), 'hello from st\n', drun.stderr);
  });
});
