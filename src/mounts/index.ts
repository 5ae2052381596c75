// mounts/: the parsing and validation of container mount flags. See spec.ts for
// MountSpec and docs/contracts.md ("mounts/") for the contract.
export type { MountSpec, MountType, MountFlags, MountOrigin, Propagation, BindOptions, VolumeOptions, TmpfsOptions } from './spec.js';
export { PROPAGATIONS } from './spec.js';
export { parseMountFlag, hostConfigMount, parseVolumeFlag, parseTmpfsFlag, parseVolumesFrom, anonymousVolume, volumeNameProblem, VOLUME_NAME_RE, CLI_FLAG_ERROR, DEFAULT_VOLUME_DRIVER } from './parse.js';
export { parseContainerMounts, sortForMounting } from './resolve.js';
export { ramInBytes } from './gostr.js';
