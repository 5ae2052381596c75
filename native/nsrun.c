/*
 * nsrun.c: `stowage_nsrun PROGRAM ARGS...` runs PROGRAM in a mount namespace of its
 * own (slave propagation: the host's mounts and unmounts still reach it, nothing
 * flows back) where /sys/fs/cgroup/unified is unmounted. crun refuses the hybrid
 * cgroup layout while that cgroup2 mount has controllers (see src/runtime/runtime.ts);
 * without it crun sees a plain cgroup v1 host. The same as
 *   unshare --mount --propagation slave -- sh -c 'umount -l /sys/fs/cgroup/unified && exec "$0" "$@"' PROGRAM ARGS
 * in one small process instead of three (unshare, sh, umount) before the runtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "stowage_nsrun: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    return 1;
  }
  if (mount("none", "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
    fprintf(stderr, "stowage_nsrun: making / a slave mount: %s\n", strerror(errno));
    return 1;
  }
  if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0) {
    fprintf(stderr, "stowage_nsrun: umount /sys/fs/cgroup/unified: %s\n", strerror(errno));
    return 1;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "stowage_nsrun: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
