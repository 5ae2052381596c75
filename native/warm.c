/*
 * warm.c: the receiving end of stowage_client (native/client.c) in a warm CLI process:
 * one request read whole from the connection, with the three descriptors that came
 * with it (Node's sockets cannot receive SCM_RIGHTS), and dup2 to make them this
 * process's standard input, output and error.
 *
 *   receive(fd, timeoutMs) -> { fds: number[], data: Buffer } (throws on a bad request)
 *   dup2(from, to), dup(fd) -> a close-on-exec copy, close(fd)
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (16u << 20)

static napi_value fail(napi_env env, const char *what, int e) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, e ? strerror(e) : "malformed request");
  napi_throw_error(env, e ? "EIO" : "EPROTO", msg);
  return NULL;
}

/* Waits up to the deadline for fd to be readable (the socket is non-blocking: libuv's). */
static int wait_readable(int fd, int timeout_ms) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) { errno = ETIMEDOUT; return -1; }
    return r < 0 ? -1 : 0;
  }
}

static napi_value receive(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1, timeout = 5000;
  napi_get_value_int32(env, argv[0], &fd);
  if (argc > 1) napi_get_value_int32(env, argv[1], &timeout);

  int fds[8];
  int nfds = 0;
  unsigned char head[4];
  size_t got = 0;
  /* The first bytes carry the descriptors. */
  while (got < 4) {
    char ctl[CMSG_SPACE(sizeof fds)];
    struct iovec iov = { .iov_base = head + got, .iov_len = 4 - got };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
    if (wait_readable(fd, timeout) < 0) return fail(env, "waiting for the request", errno);
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) return fail(env, "reading the request", errno);
    if (r == 0) return fail(env, "reading the request", ECONNRESET);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n && nfds < 8; i++) memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    }
    got += (size_t)r;
  }
  uint32_t len = ((uint32_t)head[0] << 24) | ((uint32_t)head[1] << 16) | ((uint32_t)head[2] << 8) | head[3];
  if (len > MAX_REQUEST) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    return fail(env, "request too large", 0);
  }
  void *data;
  napi_value buf;
  napi_create_buffer(env, len, &data, &buf);
  size_t off = 0;
  while (off < len) {
    ssize_t r = read(fd, (char *)data + off, len - off);
    if (r < 0 && errno == EAGAIN) {
      if (wait_readable(fd, timeout) < 0) { for (int i = 0; i < nfds; i++) close(fds[i]); return fail(env, "waiting for the request", errno); }
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { for (int i = 0; i < nfds; i++) close(fds[i]); return fail(env, "reading the request", r == 0 ? ECONNRESET : errno); }
    off += (size_t)r;
  }
  napi_value out, arr, v;
  napi_create_object(env, &out);
  napi_create_array_with_length(env, (size_t)nfds, &arr);
  for (int i = 0; i < nfds; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  napi_set_named_property(env, out, "fds", arr);
  napi_set_named_property(env, out, "data", buf);
  return out;
}

static napi_value do_dup2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t from = -1, to = -1;
  napi_get_value_int32(env, argv[0], &from);
  napi_get_value_int32(env, argv[1], &to);
  while (dup2(from, to) < 0) {
    if (errno != EINTR) return fail(env, "dup2", errno);
  }
  return NULL;
}

/* A close-on-exec copy of fd numbered 64 or above, owned by the caller. */
static napi_value do_dup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 64);
  if (r < 0) return fail(env, "dup", errno);
  napi_create_int32(env, r, &out);
  return out;
}

static napi_value do_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "receive", NULL, receive, NULL, NULL, NULL, napi_default, NULL },
    { "dup2", NULL, do_dup2, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, do_close, NULL, NULL, NULL, napi_default, NULL },
    { "dup", NULL, do_dup, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
