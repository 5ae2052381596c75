#!/usr/bin/env bash
# Installs the Debian packages stowage and its tests use, if any is missing:
#   docker.io       a real Docker engine for the interop tests and the benchmark
#   busybox-static  a tiny static userland for test and demo images
#   zstd xz-utils bzip2  decompressors for compressed layers
#   debootstrap     the benchmark's Debian base layer
#   attr            getfattr/setfattr, handy when looking at overlay xattrs
#   crun runc       the OCI runtimes containers run on (crun preferred; tests run both)
#   btrfs-progs     mkfs.btrfs and `btrfs subvolume` for the btrfs storage driver
#   zfs-fuse        ZFS in userspace (zpool/zfs and the zfs-fuse daemon) for the zfs driver
#   fuse-overlayfs fuse3  overlay through FUSE, and fusermount3, for the fuse-overlayfs driver
#   e2fsprogs       mkfs.ext4 and debugfs for size= volume quotas and CSI volumes
#   glusterfs-server glusterfs-client  the GlusterFS volume plugin's and the CSI GlusterFS backend's tests (a real server)
#   iproute2 procps util-linux  ip netns (the GlusterFS test host), pgrep, losetup/fsfreeze
#   docker-compose  the Engine API tests drive `stowage serve` with compose 1.29 (docker-py)
#   systemd         systemd-socket-activate: the API tests start `stowage serve -H fd://` as systemd does
#   chromium        the store page's tests run in a real headless Chromium (puppeteer-core drives it)
#   docker-registry apache2-utils openssl  a real registry (distribution 2.8) for the pull/push
#                   tests and the pull/push benchmark; htpasswd for its basic auth; the test CA
# Node.js 20 with npm, python3, make and g++ (for the native addon and
# better-sqlite3) come with the machine.
set -euo pipefail
PKGS=(docker.io busybox-static zstd xz-utils bzip2 debootstrap attr btrfs-progs zfs-fuse fuse-overlayfs fuse3 crun runc e2fsprogs glusterfs-server glusterfs-client iproute2 procps util-linux docker-compose systemd chromium docker-registry apache2-utils openssl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# docker.io's package starts a system dockerd where systemd runs; the tests start
# their own private daemons and need none.
