#!/usr/bin/env bash
# The main job on default settings: stowage's layered image storage, end to end.
# Installs what is missing, builds, then walks through: a base image made from
# Debian's busybox-static, a second image sharing its base layer, listing,
# history, inspect, save -> load round trip with the same image ID, removal that
# keeps shared layers; then containers writing logs and temp files into their
# own writable layers, diff, commit, removal; volumes that outlive containers (a
# named volume, bind mounts with -v and --mount, the mistakes users make and the
# messages they get), disk use, and a consistency check. Data root: stowage's default
# (/var/lib/stowage as root), storage driver: chosen automatically. What the demo
# makes it removes at the end (the data root too, when the demo created it), so it
# can be run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci
npm run --silent build
S="node bin/stowage.js"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "stowage $*"; $S "$@"; }
fails() { say "stowage $*"; if $S "$@"; then echo "(expected this to fail)"; exit 1; else echo "(exit code $?)"; fi; }
work=$(mktemp -d /tmp/stowage-demo.XXXXXX)
ROOT=/var/lib/stowage
had_root=$([ -e "$ROOT" ] && echo yes || echo no)
had_data=$([ -e /data ] && echo yes || echo no)
cleanup() {
  # Only what the demo made: its containers, images and volumes (by name), then the
  # folders it created. Stowage removes its own files, so nothing is left mounted.
  $S rm -f -v demo-writer demo-reader demo-bg mysql >/dev/null 2>&1 || true
  $S volume rm -f data_volume >/dev/null 2>&1 || true
  $S rmi -f demo/app:logged demo/app:1 demo/base:latest demo/base:1 >/dev/null 2>&1 || true
  if [ "$had_root" = no ] && ! grep -q " $ROOT[/ ]" /proc/self/mountinfo; then rm -rf "$ROOT"; fi
  if [ "$had_data" = no ]; then rm -rf /data; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A base root filesystem: busybox and its applet links.
mkdir -p "$work/base/bin" "$work/base/etc" "$work/base/tmp"
cp /bin/busybox "$work/base/bin/busybox"
for a in sh ls cat echo; do ln -s busybox "$work/base/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/base/etc/passwd"
run info
say "tar -C base -c . | stowage import -c 'CMD [\"/bin/sh\"]' - demo/base:1"
tar -C "$work/base" -c . | $S import -m 'busybox base' -c 'CMD ["/bin/sh"]' - demo/base:1
run tag demo/base:1 demo/base:latest
run save -o "$work/base.tar" demo/base:1
# An application image on the same base: the base layer is shared, not copied.
mkdir -p "$work/app/app"
printf '#!/bin/sh\necho hello from the app layer\n' > "$work/app/app/run.sh"; chmod +x "$work/app/app/run.sh"
say "(an archive of demo/app:1 = the base layer + an app layer)"
node scripts/demo-archive.mjs "$work/base.tar" "$work/app" "$work/app.tar" demo/app:1
run load -i "$work/app.tar"
run images
run history demo/app:1
run image inspect --format '{{.Id}} layers={{json .RootFS.Layers}}' demo/app:1
run save -o "$work/roundtrip.tar" demo/app:1
run rmi demo/app:1
say "(the shared base layer stays: demo/base still uses it)"
run load -i "$work/roundtrip.tar"
run image inspect --format '{{.Id}} (same ID after save -> rmi -> load)' demo/app:1

# Containers: one thin writable layer each, on the shared image layers.
run run --name demo-writer demo/app:1 sh -c 'mkdir -p /var/log /tmp/work; echo "request 1" >> /var/log/app.log; echo scratch > /tmp/work/t; rm /bin/cat; /app/run.sh'
run run --name demo-reader demo/app:1 sh -c 'ls /var/log 2>/dev/null || echo "reader sees no /var/log: the writer layer is its own"'
run diff demo-writer
run ps -a --size
run commit -m 'with a log' demo-writer demo/app:logged
run history demo/app:logged
say "(the committed image shares the first two layers with demo/app:1)"
run image inspect --format '{{json .RootFS.Layers}}' demo/app:logged
run rm demo-writer demo-reader
run run --rm demo/app:1 sh -c 'ls /var/log 2>/dev/null || echo "a fresh container: the removed containers files are gone"'
run run -d --name demo-bg demo/app:1 sh -c 'while true; do date; sleep 1; done'
sleep 2
run logs --tail 2 demo-bg
run stop -t 1 demo-bg
run rm demo-bg
run rmi demo/app:logged

# Volumes: data that outlives containers. A named volume lives under the data root.
run volume create data_volume
run run --rm -v data_volume:/var/lib/mysql demo/app:1 sh -c 'echo "row 1" >> /var/lib/mysql/table; echo "wrote row 1"'
say "(a new container, the same volume: the data is still there)"
run run --rm -v data_volume:/var/lib/mysql demo/app:1 sh -c 'echo "row 2" >> /var/lib/mysql/table; cat /var/lib/mysql/table'
say "ls -l $ROOT/volumes/data_volume/_data"
ls -l "$ROOT/volumes/data_volume/_data"
run volume inspect data_volume
run volume ls
# A bind mount maps a host folder: -v creates a missing one, --mount type=bind does not.
run run --rm -v /data/mysql:/var/lib/mysql demo/app:1 sh -c 'echo "written by a container" > /var/lib/mysql/hello'
say "cat /data/mysql/hello"
cat /data/mysql/hello
run run --rm --mount type=bind,source=/data/mysql,target=/var/lib/mysql demo/app:1 cat /var/lib/mysql/hello
run create --name mysql -v data_volume:/var/lib/mysql:ro --mount type=bind,source=/data/mysql,target=/srv --tmpfs /run demo/app:1 true
run inspect --format '{{json .Mounts}}' mysql
run inspect --format 'Binds={{json .HostConfig.Binds}} Tmpfs={{json .HostConfig.Tmpfs}}' mysql
run rm mysql
say "(a space after a comma: the shell splits the --mount value, and stowage says so)"
fails run --rm --mount type=bind, source=/data/mysql,target=/var/lib/mysql demo/app:1 true
say "(a volume driver whose plugin is not installed: a clear error, nothing created)"
fails run --name mysql --volume-driver rexray/ebs --mount src=ebs-vol,target=/var/lib/mysql demo/app:1
run volume ls
say "(the storage driver, and why it was chosen)"
$S info | grep -E 'Storage Driver|Backing Filesystem|Reason|Root Dir'
run system df -v
run system check
