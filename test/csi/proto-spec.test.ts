// The project's src/csi/csi.proto against the official CSI spec (container-storage-interface/spec
// csi.proto, v1.13.0): the server and the client both load our file, so a wrong field name,
// number or type would cancel out in every other CSI test. SPEC below holds the interface facts
// of the official file, read from it once, one per line in this file's own notation:
//   MESSAGE NUMBER FIELD TYPE [repeated | map<K,V> | oneof:NAME]     (MESSAGE - : no fields)
//   enum ENUM NUMBER VALUE
//   rpc SERVICE METHOD REQUEST RESPONSE
// Type names are written relative to package csi.v1. The test parses our .proto with a small
// parser of its own (no dependency on what the gRPC loader makes of it) and compares.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { protoPath } from '../../src/csi/proto.js';

const SPEC = `
BlockMetadata 1 byte_offset int64
BlockMetadata 2 size_bytes int64
CapacityRange 1 required_bytes int64
CapacityRange 2 limit_bytes int64
ControllerExpandVolumeRequest 1 volume_id string
ControllerExpandVolumeRequest 2 capacity_range CapacityRange
ControllerExpandVolumeRequest 3 secrets map<string,string>
ControllerExpandVolumeRequest 4 volume_capability VolumeCapability
ControllerExpandVolumeResponse 1 capacity_bytes int64
ControllerExpandVolumeResponse 2 node_expansion_required bool
ControllerGetCapabilitiesRequest -
ControllerGetCapabilitiesResponse 1 capabilities ControllerServiceCapability repeated
ControllerGetVolumeRequest 1 volume_id string
ControllerGetVolumeResponse 1 volume Volume
ControllerGetVolumeResponse 2 status ControllerGetVolumeResponse.VolumeStatus
ControllerGetVolumeResponse.VolumeStatus 1 published_node_ids string repeated
ControllerGetVolumeResponse.VolumeStatus 2 volume_condition VolumeCondition
ControllerModifyVolumeRequest 1 volume_id string
ControllerModifyVolumeRequest 2 secrets map<string,string>
ControllerModifyVolumeRequest 3 mutable_parameters map<string,string>
ControllerModifyVolumeResponse -
ControllerPublishVolumeRequest 1 volume_id string
ControllerPublishVolumeRequest 2 node_id string
ControllerPublishVolumeRequest 3 volume_capability VolumeCapability
ControllerPublishVolumeRequest 4 readonly bool
ControllerPublishVolumeRequest 5 secrets map<string,string>
ControllerPublishVolumeRequest 6 volume_context map<string,string>
ControllerPublishVolumeResponse 1 publish_context map<string,string>
ControllerServiceCapability 1 rpc ControllerServiceCapability.RPC oneof:type
ControllerServiceCapability.RPC 1 type ControllerServiceCapability.RPC.Type
ControllerUnpublishVolumeRequest 1 volume_id string
ControllerUnpublishVolumeRequest 2 node_id string
ControllerUnpublishVolumeRequest 3 secrets map<string,string>
ControllerUnpublishVolumeResponse -
CreateSnapshotRequest 1 source_volume_id string
CreateSnapshotRequest 2 name string
CreateSnapshotRequest 3 secrets map<string,string>
CreateSnapshotRequest 4 parameters map<string,string>
CreateSnapshotResponse 1 snapshot Snapshot
CreateVolumeGroupSnapshotRequest 1 name string
CreateVolumeGroupSnapshotRequest 2 source_volume_ids string repeated
CreateVolumeGroupSnapshotRequest 3 secrets map<string,string>
CreateVolumeGroupSnapshotRequest 4 parameters map<string,string>
CreateVolumeGroupSnapshotResponse 1 group_snapshot VolumeGroupSnapshot
CreateVolumeRequest 1 name string
CreateVolumeRequest 2 capacity_range CapacityRange
CreateVolumeRequest 3 volume_capabilities VolumeCapability repeated
CreateVolumeRequest 4 parameters map<string,string>
CreateVolumeRequest 5 secrets map<string,string>
CreateVolumeRequest 6 volume_content_source VolumeContentSource
CreateVolumeRequest 7 accessibility_requirements TopologyRequirement
CreateVolumeRequest 8 mutable_parameters map<string,string>
CreateVolumeResponse 1 volume Volume
DeleteSnapshotRequest 1 snapshot_id string
DeleteSnapshotRequest 2 secrets map<string,string>
DeleteSnapshotResponse -
DeleteVolumeGroupSnapshotRequest 1 group_snapshot_id string
DeleteVolumeGroupSnapshotRequest 2 snapshot_ids string repeated
DeleteVolumeGroupSnapshotRequest 3 secrets map<string,string>
DeleteVolumeGroupSnapshotResponse -
DeleteVolumeRequest 1 volume_id string
DeleteVolumeRequest 2 secrets map<string,string>
DeleteVolumeResponse -
GetCapacityRequest 1 volume_capabilities VolumeCapability repeated
GetCapacityRequest 2 parameters map<string,string>
GetCapacityRequest 3 accessible_topology Topology
GetCapacityResponse 1 available_capacity int64
GetCapacityResponse 2 maximum_volume_size google.protobuf.Int64Value
GetCapacityResponse 3 minimum_volume_size google.protobuf.Int64Value
GetMetadataAllocatedRequest 1 snapshot_id string
GetMetadataAllocatedRequest 2 starting_offset int64
GetMetadataAllocatedRequest 3 max_results int32
GetMetadataAllocatedRequest 4 secrets map<string,string>
GetMetadataAllocatedResponse 1 block_metadata_type BlockMetadataType
GetMetadataAllocatedResponse 2 volume_capacity_bytes int64
GetMetadataAllocatedResponse 3 block_metadata BlockMetadata repeated
GetMetadataDeltaRequest 1 base_snapshot_id string
GetMetadataDeltaRequest 2 target_snapshot_id string
GetMetadataDeltaRequest 3 starting_offset int64
GetMetadataDeltaRequest 4 max_results int32
GetMetadataDeltaRequest 5 secrets map<string,string>
GetMetadataDeltaResponse 1 block_metadata_type BlockMetadataType
GetMetadataDeltaResponse 2 volume_capacity_bytes int64
GetMetadataDeltaResponse 3 block_metadata BlockMetadata repeated
GetPluginCapabilitiesRequest -
GetPluginCapabilitiesResponse 1 capabilities PluginCapability repeated
GetPluginInfoRequest -
GetPluginInfoResponse 1 name string
GetPluginInfoResponse 2 vendor_version string
GetPluginInfoResponse 3 manifest map<string,string>
GetSnapshotRequest 1 snapshot_id string
GetSnapshotRequest 2 secrets map<string,string>
GetSnapshotResponse 1 snapshot Snapshot
GetVolumeGroupSnapshotRequest 1 group_snapshot_id string
GetVolumeGroupSnapshotRequest 2 snapshot_ids string repeated
GetVolumeGroupSnapshotRequest 3 secrets map<string,string>
GetVolumeGroupSnapshotResponse 1 group_snapshot VolumeGroupSnapshot
GroupControllerGetCapabilitiesRequest -
GroupControllerGetCapabilitiesResponse 1 capabilities GroupControllerServiceCapability repeated
GroupControllerServiceCapability 1 rpc GroupControllerServiceCapability.RPC oneof:type
GroupControllerServiceCapability.RPC 1 type GroupControllerServiceCapability.RPC.Type
ListSnapshotsRequest 1 max_entries int32
ListSnapshotsRequest 2 starting_token string
ListSnapshotsRequest 3 source_volume_id string
ListSnapshotsRequest 4 snapshot_id string
ListSnapshotsRequest 5 secrets map<string,string>
ListSnapshotsResponse 1 entries ListSnapshotsResponse.Entry repeated
ListSnapshotsResponse 2 next_token string
ListSnapshotsResponse.Entry 1 snapshot Snapshot
ListVolumesRequest 1 max_entries int32
ListVolumesRequest 2 starting_token string
ListVolumesResponse 1 entries ListVolumesResponse.Entry repeated
ListVolumesResponse 2 next_token string
ListVolumesResponse.Entry 1 volume Volume
ListVolumesResponse.Entry 2 status ListVolumesResponse.VolumeStatus
ListVolumesResponse.VolumeStatus 1 published_node_ids string repeated
ListVolumesResponse.VolumeStatus 2 volume_condition VolumeCondition
NodeExpandVolumeRequest 1 volume_id string
NodeExpandVolumeRequest 2 volume_path string
NodeExpandVolumeRequest 3 capacity_range CapacityRange
NodeExpandVolumeRequest 4 staging_target_path string
NodeExpandVolumeRequest 5 volume_capability VolumeCapability
NodeExpandVolumeRequest 6 secrets map<string,string>
NodeExpandVolumeResponse 1 capacity_bytes int64
NodeGetCapabilitiesRequest -
NodeGetCapabilitiesResponse 1 capabilities NodeServiceCapability repeated
NodeGetInfoRequest -
NodeGetInfoResponse 1 node_id string
NodeGetInfoResponse 2 max_volumes_per_node int64
NodeGetInfoResponse 3 accessible_topology Topology
NodeGetVolumeStatsRequest 1 volume_id string
NodeGetVolumeStatsRequest 2 volume_path string
NodeGetVolumeStatsRequest 3 staging_target_path string
NodeGetVolumeStatsResponse 1 usage VolumeUsage repeated
NodeGetVolumeStatsResponse 2 volume_condition VolumeCondition
NodePublishVolumeRequest 1 volume_id string
NodePublishVolumeRequest 2 publish_context map<string,string>
NodePublishVolumeRequest 3 staging_target_path string
NodePublishVolumeRequest 4 target_path string
NodePublishVolumeRequest 5 volume_capability VolumeCapability
NodePublishVolumeRequest 6 readonly bool
NodePublishVolumeRequest 7 secrets map<string,string>
NodePublishVolumeRequest 8 volume_context map<string,string>
NodePublishVolumeResponse -
NodeServiceCapability 1 rpc NodeServiceCapability.RPC oneof:type
NodeServiceCapability.RPC 1 type NodeServiceCapability.RPC.Type
NodeStageVolumeRequest 1 volume_id string
NodeStageVolumeRequest 2 publish_context map<string,string>
NodeStageVolumeRequest 3 staging_target_path string
NodeStageVolumeRequest 4 volume_capability VolumeCapability
NodeStageVolumeRequest 5 secrets map<string,string>
NodeStageVolumeRequest 6 volume_context map<string,string>
NodeStageVolumeResponse -
NodeUnpublishVolumeRequest 1 volume_id string
NodeUnpublishVolumeRequest 2 target_path string
NodeUnpublishVolumeResponse -
NodeUnstageVolumeRequest 1 volume_id string
NodeUnstageVolumeRequest 2 staging_target_path string
NodeUnstageVolumeResponse -
PluginCapability 1 service PluginCapability.Service oneof:type
PluginCapability 2 volume_expansion PluginCapability.VolumeExpansion oneof:type
PluginCapability.Service 1 type PluginCapability.Service.Type
PluginCapability.VolumeExpansion 1 type PluginCapability.VolumeExpansion.Type
ProbeRequest -
ProbeResponse 1 ready google.protobuf.BoolValue
Snapshot 1 size_bytes int64
Snapshot 2 snapshot_id string
Snapshot 3 source_volume_id string
Snapshot 4 creation_time google.protobuf.Timestamp
Snapshot 5 ready_to_use bool
Snapshot 6 group_snapshot_id string
Topology 1 segments map<string,string>
TopologyRequirement 1 requisite Topology repeated
TopologyRequirement 2 preferred Topology repeated
ValidateVolumeCapabilitiesRequest 1 volume_id string
ValidateVolumeCapabilitiesRequest 2 volume_context map<string,string>
ValidateVolumeCapabilitiesRequest 3 volume_capabilities VolumeCapability repeated
ValidateVolumeCapabilitiesRequest 4 parameters map<string,string>
ValidateVolumeCapabilitiesRequest 5 secrets map<string,string>
ValidateVolumeCapabilitiesRequest 6 mutable_parameters map<string,string>
ValidateVolumeCapabilitiesResponse 1 confirmed ValidateVolumeCapabilitiesResponse.Confirmed
ValidateVolumeCapabilitiesResponse 2 message string
ValidateVolumeCapabilitiesResponse.Confirmed 1 volume_context map<string,string>
ValidateVolumeCapabilitiesResponse.Confirmed 2 volume_capabilities VolumeCapability repeated
ValidateVolumeCapabilitiesResponse.Confirmed 3 parameters map<string,string>
ValidateVolumeCapabilitiesResponse.Confirmed 4 mutable_parameters map<string,string>
Volume 1 capacity_bytes int64
Volume 2 volume_id string
Volume 3 volume_context map<string,string>
Volume 4 content_source VolumeContentSource
Volume 5 accessible_topology Topology repeated
VolumeCapability 1 block VolumeCapability.BlockVolume oneof:access_type
VolumeCapability 2 mount VolumeCapability.MountVolume oneof:access_type
VolumeCapability 3 access_mode VolumeCapability.AccessMode
VolumeCapability.AccessMode 1 mode VolumeCapability.AccessMode.Mode
VolumeCapability.BlockVolume -
VolumeCapability.MountVolume 1 fs_type string
VolumeCapability.MountVolume 2 mount_flags string repeated
VolumeCapability.MountVolume 3 volume_mount_group string
VolumeCondition 1 abnormal bool
VolumeCondition 2 message string
VolumeContentSource 1 snapshot VolumeContentSource.SnapshotSource oneof:type
VolumeContentSource 2 volume VolumeContentSource.VolumeSource oneof:type
VolumeContentSource.SnapshotSource 1 snapshot_id string
VolumeContentSource.VolumeSource 1 volume_id string
VolumeGroupSnapshot 1 group_snapshot_id string
VolumeGroupSnapshot 2 snapshots Snapshot repeated
VolumeGroupSnapshot 3 creation_time google.protobuf.Timestamp
VolumeGroupSnapshot 4 ready_to_use bool
VolumeUsage 1 available int64
VolumeUsage 2 total int64
VolumeUsage 3 used int64
VolumeUsage 4 unit VolumeUsage.Unit
enum BlockMetadataType 0 UNKNOWN
enum BlockMetadataType 1 FIXED_LENGTH
enum BlockMetadataType 2 VARIABLE_LENGTH
enum ControllerServiceCapability.RPC.Type 0 UNKNOWN
enum ControllerServiceCapability.RPC.Type 1 CREATE_DELETE_VOLUME
enum ControllerServiceCapability.RPC.Type 10 LIST_VOLUMES_PUBLISHED_NODES
enum ControllerServiceCapability.RPC.Type 11 VOLUME_CONDITION
enum ControllerServiceCapability.RPC.Type 12 GET_VOLUME
enum ControllerServiceCapability.RPC.Type 13 SINGLE_NODE_MULTI_WRITER
enum ControllerServiceCapability.RPC.Type 14 MODIFY_VOLUME
enum ControllerServiceCapability.RPC.Type 15 GET_SNAPSHOT
enum ControllerServiceCapability.RPC.Type 2 PUBLISH_UNPUBLISH_VOLUME
enum ControllerServiceCapability.RPC.Type 3 LIST_VOLUMES
enum ControllerServiceCapability.RPC.Type 4 GET_CAPACITY
enum ControllerServiceCapability.RPC.Type 5 CREATE_DELETE_SNAPSHOT
enum ControllerServiceCapability.RPC.Type 6 LIST_SNAPSHOTS
enum ControllerServiceCapability.RPC.Type 7 CLONE_VOLUME
enum ControllerServiceCapability.RPC.Type 8 PUBLISH_READONLY
enum ControllerServiceCapability.RPC.Type 9 EXPAND_VOLUME
enum GroupControllerServiceCapability.RPC.Type 0 UNKNOWN
enum GroupControllerServiceCapability.RPC.Type 1 CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT
enum NodeServiceCapability.RPC.Type 0 UNKNOWN
enum NodeServiceCapability.RPC.Type 1 STAGE_UNSTAGE_VOLUME
enum NodeServiceCapability.RPC.Type 2 GET_VOLUME_STATS
enum NodeServiceCapability.RPC.Type 3 EXPAND_VOLUME
enum NodeServiceCapability.RPC.Type 4 VOLUME_CONDITION
enum NodeServiceCapability.RPC.Type 5 SINGLE_NODE_MULTI_WRITER
enum NodeServiceCapability.RPC.Type 6 VOLUME_MOUNT_GROUP
enum PluginCapability.Service.Type 0 UNKNOWN
enum PluginCapability.Service.Type 1 CONTROLLER_SERVICE
enum PluginCapability.Service.Type 2 VOLUME_ACCESSIBILITY_CONSTRAINTS
enum PluginCapability.Service.Type 3 GROUP_CONTROLLER_SERVICE
enum PluginCapability.Service.Type 4 SNAPSHOT_METADATA_SERVICE
enum PluginCapability.VolumeExpansion.Type 0 UNKNOWN
enum PluginCapability.VolumeExpansion.Type 1 ONLINE
enum PluginCapability.VolumeExpansion.Type 2 OFFLINE
enum VolumeCapability.AccessMode.Mode 0 UNKNOWN
enum VolumeCapability.AccessMode.Mode 1 SINGLE_NODE_WRITER
enum VolumeCapability.AccessMode.Mode 2 SINGLE_NODE_READER_ONLY
enum VolumeCapability.AccessMode.Mode 3 MULTI_NODE_READER_ONLY
enum VolumeCapability.AccessMode.Mode 4 MULTI_NODE_SINGLE_WRITER
enum VolumeCapability.AccessMode.Mode 5 MULTI_NODE_MULTI_WRITER
enum VolumeCapability.AccessMode.Mode 6 SINGLE_NODE_SINGLE_WRITER
enum VolumeCapability.AccessMode.Mode 7 SINGLE_NODE_MULTI_WRITER
enum VolumeUsage.Unit 0 UNKNOWN
enum VolumeUsage.Unit 1 BYTES
enum VolumeUsage.Unit 2 INODES
rpc Controller ControllerExpandVolume ControllerExpandVolumeRequest ControllerExpandVolumeResponse
rpc Controller ControllerGetCapabilities ControllerGetCapabilitiesRequest ControllerGetCapabilitiesResponse
rpc Controller ControllerGetVolume ControllerGetVolumeRequest ControllerGetVolumeResponse
rpc Controller ControllerModifyVolume ControllerModifyVolumeRequest ControllerModifyVolumeResponse
rpc Controller ControllerPublishVolume ControllerPublishVolumeRequest ControllerPublishVolumeResponse
rpc Controller ControllerUnpublishVolume ControllerUnpublishVolumeRequest ControllerUnpublishVolumeResponse
rpc Controller CreateSnapshot CreateSnapshotRequest CreateSnapshotResponse
rpc Controller CreateVolume CreateVolumeRequest CreateVolumeResponse
rpc Controller DeleteSnapshot DeleteSnapshotRequest DeleteSnapshotResponse
rpc Controller DeleteVolume DeleteVolumeRequest DeleteVolumeResponse
rpc Controller GetCapacity GetCapacityRequest GetCapacityResponse
rpc Controller GetSnapshot GetSnapshotRequest GetSnapshotResponse
rpc Controller ListSnapshots ListSnapshotsRequest ListSnapshotsResponse
rpc Controller ListVolumes ListVolumesRequest ListVolumesResponse
rpc Controller ValidateVolumeCapabilities ValidateVolumeCapabilitiesRequest ValidateVolumeCapabilitiesResponse
rpc GroupController CreateVolumeGroupSnapshot CreateVolumeGroupSnapshotRequest CreateVolumeGroupSnapshotResponse
rpc GroupController DeleteVolumeGroupSnapshot DeleteVolumeGroupSnapshotRequest DeleteVolumeGroupSnapshotResponse
rpc GroupController GetVolumeGroupSnapshot GetVolumeGroupSnapshotRequest GetVolumeGroupSnapshotResponse
rpc GroupController GroupControllerGetCapabilities GroupControllerGetCapabilitiesRequest GroupControllerGetCapabilitiesResponse
rpc Identity GetPluginCapabilities GetPluginCapabilitiesRequest GetPluginCapabilitiesResponse
rpc Identity GetPluginInfo GetPluginInfoRequest GetPluginInfoResponse
rpc Identity Probe ProbeRequest ProbeResponse
rpc Node NodeExpandVolume NodeExpandVolumeRequest NodeExpandVolumeResponse
rpc Node NodeGetCapabilities NodeGetCapabilitiesRequest NodeGetCapabilitiesResponse
rpc Node NodeGetInfo NodeGetInfoRequest NodeGetInfoResponse
rpc Node NodeGetVolumeStats NodeGetVolumeStatsRequest NodeGetVolumeStatsResponse
rpc Node NodePublishVolume NodePublishVolumeRequest NodePublishVolumeResponse
rpc Node NodeStageVolume NodeStageVolumeRequest NodeStageVolumeResponse
rpc Node NodeUnpublishVolume NodeUnpublishVolumeRequest NodeUnpublishVolumeResponse
rpc Node NodeUnstageVolume NodeUnstageVolumeRequest NodeUnstageVolumeResponse
rpc SnapshotMetadata GetMetadataAllocated GetMetadataAllocatedRequest GetMetadataAllocatedResponse
rpc SnapshotMetadata GetMetadataDelta GetMetadataDeltaRequest GetMetadataDeltaResponse
`;

/** Services stowage deliberately does not declare (docs/csi.md): gRPC answers UNIMPLEMENTED. */
const OMITTED_SERVICES = ['GroupController', 'SnapshotMetadata'];
/** Messages only those services use. */
const OMITTED_MESSAGES = [
  'BlockMetadata', 'BlockMetadataType', 'CreateVolumeGroupSnapshotRequest', 'CreateVolumeGroupSnapshotResponse',
  'DeleteVolumeGroupSnapshotRequest', 'DeleteVolumeGroupSnapshotResponse', 'GetMetadataAllocatedRequest', 'GetMetadataAllocatedResponse',
  'GetMetadataDeltaRequest', 'GetMetadataDeltaResponse', 'GetVolumeGroupSnapshotRequest', 'GetVolumeGroupSnapshotResponse',
  'GroupControllerGetCapabilitiesRequest', 'GroupControllerGetCapabilitiesResponse', 'GroupControllerServiceCapability', 'VolumeGroupSnapshot',
];

const SCALARS = new Set(['double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string', 'bytes']);

/** The facts of a .proto file in SPEC's notation. Enough of proto3 for csi.proto: services, messages, enums, oneofs, maps. */
export function protoFacts(text: string): string[] {
  const src = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  const toks = src.match(/"(?:[^"\\]|\\.)*"|[A-Za-z_][\w.]*|\.[A-Za-z_][\w.]*|\d+|[{}()<>;=,[\]]/g) ?? [];
  let i = 0;
  const peek = () => toks[i];
  const next = () => { const t = toks[i++]; if (t === undefined) throw new Error('unexpected end of file'); return t; };
  const expect = (t: string) => { const got = next(); if (got !== t) throw new Error(`expected ${t}, got ${got} (token ${i})`); };
  const skipStatement = () => { while (next() !== ';'); };
  const skipBlock = () => { expect('{'); for (let depth = 1; depth > 0;) { const t = next(); if (t === '{') depth++; else if (t === '}') depth--; } };
  const skipOptions = () => { if (peek() === '[') { while (next() !== ']'); } };
  const types = new Set<string>();
  const fields: Array<{ scope: string; line: (resolve: (n: string) => string) => string }> = [];
  const out: string[] = [];

  const field = (scope: string, label: string) => {
    let type: string;
    let mapKey = '';
    if (peek() === 'map') { next(); expect('<'); mapKey = next(); expect(','); type = next(); expect('>'); } else type = next();
    const name = next();
    expect('=');
    const num = next();
    skipOptions();
    expect(';');
    fields.push({ scope, line: (r) => mapKey ? `${scope} ${num} ${name} map<${mapKey},${r(type)}>` : `${scope} ${num} ${name} ${r(type)}${label ? ` ${label}` : ''}` });
  };
  const enumBody = (name: string) => {
    types.add(name);
    expect('{');
    while (peek() !== '}') {
      if (peek() === 'option' || peek() === 'reserved') { skipStatement(); continue; }
      const v = next(); expect('='); const n = next(); skipOptions(); expect(';');
      out.push(`enum ${name} ${n} ${v}`);
    }
    next();
  };
  const messageBody = (name: string) => {
    types.add(name);
    expect('{');
    let count = 0;
    while (peek() !== '}') {
      const t = peek();
      if (t === 'message') { next(); messageBody(`${name}.${next()}`); } else if (t === 'enum') { next(); enumBody(`${name}.${next()}`); } else if (t === 'option' || t === 'reserved') skipStatement();
      else if (t === 'oneof') {
        next(); const o = next(); expect('{');
        while (peek() !== '}') { if (peek() === 'option') { skipStatement(); continue; } field(name, `oneof:${o}`); count++; }
        next();
      } else if (t === 'repeated') { next(); field(name, 'repeated'); count++; } else if (t === 'optional') { next(); field(name, 'optional'); count++; } else { field(name, ''); count++; }
    }
    next();
    if (count === 0) out.push(`${name} -`);
  };
  while (i < toks.length) {
    const t = next();
    if (t === 'syntax' || t === 'package' || t === 'import' || t === 'option') skipStatement();
    else if (t === 'extend') { next(); skipBlock(); } else if (t === 'message') messageBody(next());
    else if (t === 'enum') enumBody(next());
    else if (t === 'service') {
      const s = next(); expect('{');
      while (peek() !== '}') {
        if (peek() === 'option') { skipStatement(); continue; }
        expect('rpc'); const m = next(); expect('('); const req = next(); expect(')'); expect('returns'); expect('('); const res = next(); expect(')');
        if (peek() === '{') skipBlock(); else expect(';');
        out.push(`rpc ${s} ${m} ${req} ${res}`);
      }
      next();
    } else throw new Error(`unexpected ${t} at top level (token ${i})`);
  }
  // Resolve type names as protoc does: innermost scope outwards; google.protobuf.* by full name.
  for (const f of fields) {
    out.push(f.line((n) => {
      if (SCALARS.has(n)) return n;
      const bare = n.replace(/^\./, '').replace(/^csi\.v1\./, '');
      if (bare.startsWith('google.protobuf.')) return bare;
      for (let s = f.scope; ; s = s.includes('.') ? s.slice(0, s.lastIndexOf('.')) : '') {
        const cand = s ? `${s}.${bare}` : bare;
        if (types.has(cand)) return cand;
        if (!s) break;
      }
      return `?${n}`;
    }));
  }
  return out;
}

const facts = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);
const omitted = (line: string) => {
  const w = line.split(' ');
  if (w[0] === 'rpc') return OMITTED_SERVICES.includes(w[1]!);
  const type = w[0] === 'enum' ? w[1]! : w[0]!;
  return OMITTED_MESSAGES.includes(type.split('.')[0]!);
};

describe('csi.proto against the CSI spec', () => {
  it('the parser reads the notation back (maps, oneofs, nested types, enums, services)', () => {
    const got = protoFacts(`syntax = "proto3"; package csi.v1; import "google/protobuf/wrappers.proto";
      service S { rpc M(A) returns (B) {} }
      message A { message In { enum E { X = 0; Y = 2 [(o) = true]; } E e = 1; } map<string, string> m = 3 [(csi_secret) = true];
        oneof kind { In in = 4; google.protobuf.BoolValue b = 5; } repeated In.E es = 6; }
      message B {}`);
    assert.deepEqual(got.sort(), ['A 3 m map<string,string>', 'A 4 in A.In oneof:kind', 'A 5 b google.protobuf.BoolValue oneof:kind', 'A 6 es A.In.E repeated',
      'A.In 1 e A.In.E', 'B -', 'enum A.In.E 0 X', 'enum A.In.E 2 Y', 'rpc S M A B'].sort());
  });

  it('every service, message, field (name, number, type, label) and enum value of src/csi/csi.proto is the spec\'s', () => {
    const ours = protoFacts(readFileSync(protoPath(), 'utf8'));
    const spec = facts(SPEC);
    const specSet = new Set(spec);
    const wrong = ours.filter((l) => !specSet.has(l));
    assert.deepEqual(wrong, [], 'declared in csi.proto but not so in the spec');
    const oursSet = new Set(ours);
    const missing = spec.filter((l) => !oursSet.has(l) && !omitted(l));
    assert.deepEqual(missing, [], 'in the spec but missing from csi.proto');
    // The omissions are whole services and the messages only they use, nothing else.
    assert.ok(ours.every((l) => !omitted(l)));
    assert.equal(spec.filter(omitted).filter((l) => l.startsWith('rpc')).length, 6);
  });
});
