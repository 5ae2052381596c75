/*
 * pty.c: what a container's monitor needs to own a container's terminal, which
 * Node.js cannot do by itself:
 *   - receive the pty master that the OCI runtime sends over its --console-socket
 *     (a unix socket message with SCM_RIGHTS; Node's net module drops passed fds);
 *   - set the terminal's size (ioctl TIOCSWINSZ), as `docker resize` does;
 *   - put the user's terminal in raw mode as Docker's CLI does (libuv's raw mode keeps
 *     output processing, which turns the container's \r\n into \r\r\n).
 * Errors are thrown as JS Errors carrying `code` and `syscall`, like Node's.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <termios.h>

static napi_value throw_errno(napi_env env, int e, const char *syscall) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(e));
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  napi_throw(env, err);
  return NULL;
}

static int arg_int(napi_env env, napi_value v, int *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) { napi_throw_type_error(env, NULL, "expected an integer argument"); return 0; }
  return 1;
}

/* listenUnix(path) -> fd: a non-blocking listening unix socket (close-on-exec). */
static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a socket path"); return NULL;
  }
  if (n >= sizeof addr.sun_path - 1) { napi_throw_range_error(env, NULL, "socket path too long"); return NULL; }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 4) < 0) {
    int e = errno; close(fd); return throw_errno(env, e, "bind");
  }
  napi_value r; napi_create_int32(env, fd, &r); return r;
}

/*
 * acceptFd(listenFd) -> fd | null: accepts one connection if one is waiting (null
 * when none is), reads one message from it (waiting up to 2 s) and returns the first
 * file descriptor it carries, close-on-exec. The connection is closed.
 */
static napi_value js_accept_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; int lfd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !arg_int(env, argv[0], &lfd)) return NULL;
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { napi_value nul; napi_get_null(env, &nul); return nul; }
    return throw_errno(env, errno, "accept4");
  }
  struct pollfd p = { .fd = c, .events = POLLIN };
  int pr;
  do { pr = poll(&p, 1, 2000); } while (pr < 0 && errno == EINTR);
  if (pr <= 0) { close(c); return throw_errno(env, pr == 0 ? ETIMEDOUT : errno, "poll"); }
  char data[256];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
  union { char buf[CMSG_SPACE(sizeof(int) * 4)]; struct cmsghdr align; } u;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov; msg.msg_iovlen = 1;
  msg.msg_control = u.buf; msg.msg_controllen = sizeof u.buf;
  ssize_t r;
  do { r = recvmsg(c, &msg, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
  int e = errno;
  close(c);
  if (r < 0) return throw_errno(env, e, "recvmsg");
  int fd = -1;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      int nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      int *fds = (int *)CMSG_DATA(cm);
      for (int i = 0; i < nfds; i++) { if (fd < 0) fd = fds[i]; else close(fds[i]); }
    }
  }
  if (fd < 0) return throw_errno(env, EBADMSG, "recvmsg (no file descriptor)");
  napi_value rv; napi_create_int32(env, fd, &rv); return rv;
}

/* setWinsize(fd, rows, cols) */
static napi_value js_set_winsize(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3]; int fd, rows, cols;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || !arg_int(env, argv[0], &fd) || !arg_int(env, argv[1], &rows) || !arg_int(env, argv[2], &cols)) return NULL;
  struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) return throw_errno(env, errno, "ioctl(TIOCSWINSZ)");
  napi_value u; napi_get_undefined(env, &u); return u;
}

/*
 * makeRaw(fd) -> { saved: Buffer, pending: Buffer, eof: boolean }: puts a terminal in
 * raw mode as Docker's CLI does (moby/term MakeRaw: cfmakeraw, no output processing).
 * Input already queued in canonical mode is read first and returned: an end-of-file
 * typed (or sent by a harness) before the switch sits in the line buffer as a marker
 * that raw mode would deliver as a NUL byte; read in canonical mode it is what it is,
 * end of input (eof). `saved` restores the terminal with setTermios.
 */
static napi_value js_make_raw(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; int fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !arg_int(env, argv[0], &fd)) return NULL;
  struct termios old, raw;
  if (tcgetattr(fd, &old) < 0) return throw_errno(env, errno, "tcgetattr");
  char pending[4096]; size_t have = 0; int eof = 0;
  if (old.c_lflag & ICANON) {
    for (;;) {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN) || have == sizeof pending) break;
      ssize_t r = read(fd, pending + have, sizeof pending - have);
      if (r == 0) { eof = 1; break; }
      if (r < 0) break;
      have += (size_t)r;
    }
  }
  raw = old;
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_oflag &= ~OPOST;
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag &= ~(CSIZE | PARENB);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSANOW, &raw) < 0) return throw_errno(env, errno, "tcsetattr");
  napi_value obj, saved, pend, e;
  napi_create_object(env, &obj);
  napi_create_buffer_copy(env, sizeof old, &old, NULL, &saved);
  napi_create_buffer_copy(env, have, pending, NULL, &pend);
  napi_get_boolean(env, eof, &e);
  napi_set_named_property(env, obj, "saved", saved);
  napi_set_named_property(env, obj, "pending", pend);
  napi_set_named_property(env, obj, "eof", e);
  return obj;
}

/* setTermios(fd, saved): restores what makeRaw saved. */
static napi_value js_set_termios(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2]; int fd; void *data; size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !arg_int(env, argv[0], &fd)) return NULL;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len != sizeof(struct termios)) {
    napi_throw_type_error(env, NULL, "expected the Buffer makeRaw returned"); return NULL;
  }
  if (tcsetattr(fd, TCSANOW, (struct termios *)data) < 0) return throw_errno(env, errno, "tcsetattr");
  napi_value u; napi_get_undefined(env, &u); return u;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_default, NULL },
    { "acceptFd", NULL, js_accept_fd, NULL, NULL, NULL, napi_default, NULL },
    { "setWinsize", NULL, js_set_winsize, NULL, NULL, NULL, napi_default, NULL },
    { "makeRaw", NULL, js_make_raw, NULL, NULL, NULL, napi_default, NULL },
    { "setTermios", NULL, js_set_termios, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
