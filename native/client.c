/*
 * client.c: stowage_client, the first program `bin/stowage` runs. When `stowage warm`
 * keeps CLI processes ready (started from the start-up snapshot, waiting), the client
 * hands one of them this command: its standard input, output and error themselves
 * (SCM_RIGHTS), its arguments, environment, working folder and umask. That process
 * runs the command exactly as `node --snapshot-blob BLOB -- ARGS` would, and the warm
 * server sends back its exit status; the client forwards signals to it meanwhile.
 * Node's own start (~25 ms) and the snapshot's deserialisation (~10 ms) are then paid
 * before the command is typed, as dockerd is already running for the docker CLI.
 *
 * Whenever that is not possible (no server, a refused hand-over, a server of another
 * build, or a command that needs this process's controlling terminal) the client
 * becomes the ordinary command: execvp("node", "--snapshot-blob", BLOB, "--", ARGS).
 * Nothing has run before such a fallback, so it never runs a command twice.
 *
 *   stowage_client BLOB [ARGS...]
 *   STOWAGE_WARM_SOCKET  the server's socket (default /run/stowage/warm.sock)
 *   STOWAGE_NO_WARM=1    never hand over
 *
 * Wire format (client -> server), one message: u32 length (big-endian) of the rest,
 * then NUL-terminated strings: "stowage-warm-1", the blob's identity
 * ("dev:ino:size:mtime_ns"), cwd, umask (octal), argc, the arguments, envc, the
 * environment. The three descriptors ride on the first sendmsg. Server -> client:
 * 'A' + u32 pid (accepted: the command runs in that process) or 'D' (declined:
 * run it here), then, after 'A', u32 exit status (128 + signal for a signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static char **fallback_argv;
static volatile pid_t target;

static void run_here(void) {
  execvp("node", fallback_argv);
  fprintf(stderr, "stowage: cannot start node: %s\n", strerror(errno));
  _exit(127);
}

/* Commands that use this process's controlling terminal (raw mode, job control, window
 * size) or serve for a long time stay here; a false positive only costs speed. */
static int needs_terminal(int argc, char **argv) {
  int i = 0;
  /* Global options before the command. */
  while (i < argc) {
    const char *a = argv[i];
    if (!strcmp(a, "--data-root") || !strcmp(a, "-s") || !strcmp(a, "--storage-driver")) { i += 2; continue; }
    if (!strncmp(a, "--data-root=", 12) || !strncmp(a, "--storage-driver=", 17) || (!strncmp(a, "-s", 2) && a[2])) { i++; continue; }
    break;
  }
  if (i >= argc) return 0;
  static const char *allowed[] = {
    "images", "image", "ps", "container", "volume", "create", "rm", "rmi", "tag", "inspect", "version",
    "info", "system", "df", "run", "stop", "kill", "restart", "rename", "diff", "commit", "history",
    "load", "save", "import", "export", "cp", "pull", "push", "logs", "wait", "top", "port", "builder",
    "build", "events", "logout", "check", NULL,
  };
  int ok = 0;
  for (int k = 0; allowed[k]; k++) if (!strcmp(argv[i], allowed[k])) { ok = 1; break; }
  if (!ok) return 1;
  if (!strcmp(argv[i], "container") && i + 1 < argc && (!strcmp(argv[i + 1], "attach") || !strcmp(argv[i + 1], "exec") || !strcmp(argv[i + 1], "start"))) return 1;
  if (strcmp(argv[i], "run") && strcmp(argv[i], "create") && strcmp(argv[i], "container")) return 0;
  /* run/create: -i, -t (alone or in a cluster such as -dit), --interactive, --tty, -a. */
  for (int j = i + 1; j < argc; j++) {
    const char *a = argv[j];
    if (!strcmp(a, "--interactive") || !strcmp(a, "--tty") || !strncmp(a, "--interactive=", 14) || !strncmp(a, "--tty=", 6) ||
        !strcmp(a, "--attach") || !strncmp(a, "--attach=", 9)) return 1;
    if (a[0] == '-' && a[1] != '-' && a[1]) {
      for (const char *c = a + 1; *c; c++) if (*c == 'i' || *c == 't' || *c == 'a') return 1;
    }
  }
  return 0;
}

static int put(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s) + 1;
  if (*len + n > *cap) {
    size_t c = (*cap + n) * 2;
    char *b = realloc(*buf, c);
    if (!b) return -1;
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  return 0;
}

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static void forward(int sig) {
  if (target > 0) kill(target, sig);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: stowage_client BLOB [ARGS...]\n");
    return 2;
  }
  const char *blob = argv[1];
  fallback_argv = calloc((size_t)argc + 4, sizeof(char *));
  if (!fallback_argv) return 1;
  fallback_argv[0] = "node";
  fallback_argv[1] = "--snapshot-blob";
  fallback_argv[2] = (char *)blob;
  fallback_argv[3] = "--";
  for (int i = 2; i < argc; i++) fallback_argv[i + 2] = argv[i];

  const char *no = getenv("STOWAGE_NO_WARM");
  if ((no && *no) || needs_terminal(argc - 2, argv + 2)) run_here();

  const char *path = getenv("STOWAGE_WARM_SOCKET");
  if (!path || !*path) path = "/run/stowage/warm.sock";
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof(sa.sun_path)) run_here();
  strcpy(sa.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) run_here();

  struct stat st;
  if (stat(blob, &st) < 0) run_here();
  char *buf = NULL, tmp[128];
  size_t len = 4, cap = 4096;
  buf = malloc(cap);
  if (!buf) run_here();
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) run_here();
  mode_t um = umask(022);
  umask(um);
  int fail = put(&buf, &len, &cap, "stowage-warm-1");
  snprintf(tmp, sizeof tmp, "%llu:%llu:%lld:%lld%09ld", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
           (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  fail |= put(&buf, &len, &cap, tmp);
  fail |= put(&buf, &len, &cap, cwd);
  snprintf(tmp, sizeof tmp, "%o", (unsigned)um);
  fail |= put(&buf, &len, &cap, tmp);
  snprintf(tmp, sizeof tmp, "%d", argc - 2);
  fail |= put(&buf, &len, &cap, tmp);
  for (int i = 2; i < argc; i++) fail |= put(&buf, &len, &cap, argv[i]);
  int envc = 0;
  for (char **e = environ; *e; e++) envc++;
  snprintf(tmp, sizeof tmp, "%d", envc);
  fail |= put(&buf, &len, &cap, tmp);
  for (char **e = environ; *e; e++) fail |= put(&buf, &len, &cap, *e);
  if (fail) run_here();
  uint32_t n = (uint32_t)(len - 4);
  buf[0] = (char)(n >> 24); buf[1] = (char)(n >> 16); buf[2] = (char)(n >> 8); buf[3] = (char)n;

  /* The descriptors ride on the first message; the rest of the bytes follow. */
  int fds[3] = { 0, 1, 2 };
  char ctl[CMSG_SPACE(sizeof fds)];
  memset(ctl, 0, sizeof ctl);
  struct iovec iov = { .iov_base = buf, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  signal(SIGPIPE, SIG_IGN);
  ssize_t w = sendmsg(s, &msg, MSG_NOSIGNAL);
  if (w <= 0) run_here();
  size_t off = (size_t)w;
  while (off < len) {
    w = send(s, buf + off, len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) run_here();
    off += (size_t)w;
  }
  free(buf);

  unsigned char reply[5];
  if (read_full(s, reply, 1) < 0 || reply[0] != 'A') run_here(); /* declined, or gone before it began */
  if (read_full(s, reply + 1, 4) < 0) {
    fprintf(stderr, "stowage: the warm server went away before the command started\n");
    return 1;
  }
  target = (pid_t)((reply[1] << 24) | (reply[2] << 16) | (reply[3] << 8) | reply[4]);

  struct sigaction sa2 = { .sa_handler = forward };
  sigemptyset(&sa2.sa_mask);
  int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &sa2, NULL);

  unsigned char status[4];
  if (read_full(s, status, 4) < 0) {
    /* The server died; the command may still be running: wait for it to end. */
    while (kill(target, 0) == 0 || errno == EPERM) usleep(50000);
    fprintf(stderr, "stowage: the warm server went away; the command's exit status is unknown\n");
    return 1;
  }
  return (int)((status[0] << 24) | (status[1] << 16) | (status[2] << 8) | status[3]);
}
