#!/usr/bin/env bash
# The main job on default settings: stowage's layered image storage, end to end.
# Installs what is missing, builds, then walks through: a base image made from
# Debian's busybox-static, a second image sharing its base layer, listing,
# history, inspect, save -> load round trip with the same image ID, removal that
# keeps shared layers; then containers writing logs and temp files into their
# own writable layers, diff, commit, removal; and a consistency check. Data root: stowage's default
# (/var/lib/stowage as root), storage driver: chosen automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d node_modules ] || npm ci
npm run --silent build
S="node bin/stowage.js"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "stowage $*"; $S "$@"; }
work=$(mktemp -d /tmp/stowage-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

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
run system check
