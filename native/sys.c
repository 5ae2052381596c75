/*
 * sys.c: the few Linux system calls that Node.js does not expose and that a
 * storage engine cannot do without: mknod (overlay whiteouts are 0/0 character
 * devices; layers carry device nodes and FIFOs), extended attributes on the
 * link itself (overlay opaque markers, security.capability, user xattrs), and
 * mount/umount2 (spawning mount(8) for every overlay mount would cost ~2 ms a
 * call and a fork of a 100 MB process).
 *
 * Every function throws a JS Error carrying `code` (e.g. "ENOENT"), `errno`
 * and `syscall`, shaped like Node's own fs errors.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/mount.h>

#define MAX_ARGS 6
#define PATH_BUF 4096

static const char *errno_code(int e) {
  switch (e) {
    case ENOENT: return "ENOENT"; case EEXIST: return "EEXIST"; case EPERM: return "EPERM";
    case EACCES: return "EACCES"; case ENOTSUP: return "ENOTSUP"; case ENODATA: return "ENODATA";
    case EINVAL: return "EINVAL"; case EBUSY: return "EBUSY"; case ENOTDIR: return "ENOTDIR";
    case ENOSPC: return "ENOSPC"; case ERANGE: return "ERANGE"; case E2BIG: return "E2BIG";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case ELOOP: return "ELOOP"; case EROFS: return "EROFS";
    case ENODEV: return "ENODEV"; case ENOTBLK: return "ENOTBLK"; case EDQUOT: return "EDQUOT";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  char msg[PATH_BUF + 128];
  snprintf(msg, sizeof msg, "%s: %s, %s '%s'", errno_code(e), strerror(e), syscall, path ? path : "");
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "path", v);
  }
  napi_throw(env, err);
  return NULL;
}

static int get_str(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n = 0;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) { buf[0] = 0; return 1; }
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (is_buf) {
    /* A path given as bytes (names that are not valid UTF-8 must survive exactly). */
    void *data = NULL; size_t blen = 0;
    napi_get_buffer_info(env, v, &data, &blen);
    if (blen >= len - 1) { napi_throw_range_error(env, NULL, "string argument too long"); return 0; }
    if (memchr(data, 0, blen)) { napi_throw_type_error(env, NULL, "NUL in path"); return 0; }
    memcpy(buf, data, blen);
    buf[blen] = 0;
    return 1;
  }
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string argument");
    return 0;
  }
  if (n >= len - 1) { napi_throw_range_error(env, NULL, "string argument too long"); return 0; }
  return 1;
}

static napi_value undef(napi_env env) { napi_value u; napi_get_undefined(env, &u); return u; }

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value a[4];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char path[PATH_BUF]; uint32_t mode = 0, maj = 0, min = 0;
  if (!get_str(env, a[0], path, sizeof path)) return NULL;
  napi_get_value_uint32(env, a[1], &mode);
  napi_get_value_uint32(env, a[2], &maj);
  napi_get_value_uint32(env, a[3], &min);
  if (mknod(path, (mode_t)mode, makedev(maj, min)) != 0) return throw_errno(env, errno, "mknod", path);
  return undef(env);
}

/* lsetxattr(path, name, buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value a[3];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char path[PATH_BUF], name[512]; void *data = NULL; size_t len = 0;
  if (!get_str(env, a[0], path, sizeof path) || !get_str(env, a[1], name, sizeof name)) return NULL;
  if (napi_get_buffer_info(env, a[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "lsetxattr: value must be a Buffer"); return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return undef(env);
}

/* lgetxattr(path, name) -> Buffer | null when the attribute is absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char path[PATH_BUF], name[512];
  if (!get_str(env, a[0], path, sizeof path) || !get_str(env, a[1], name, sizeof name)) return NULL;
  for (;;) {
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n < 0) {
      if (errno == ENODATA || errno == ENOTSUP) { napi_value nul; napi_get_null(env, &nul); return nul; }
      return throw_errno(env, errno, "lgetxattr", path);
    }
    void *out; napi_value buf;
    napi_create_buffer(env, (size_t)n, &out, &buf);
    ssize_t m = n == 0 ? 0 : lgetxattr(path, name, out, (size_t)n);
    if (m < 0 && errno == ERANGE) continue; /* grew between the two calls */
    if (m < 0) return throw_errno(env, errno, "lgetxattr", path);
    if (m != n) { napi_value sliced; napi_create_buffer_copy(env, (size_t)m, out, NULL, &sliced); return sliced; }
    return buf;
  }
}

/* llistxattr(path) -> string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value a[1];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char path[PATH_BUF];
  if (!get_str(env, a[0], path, sizeof path)) return NULL;
  napi_value arr; napi_create_array(env, &arr);
  for (;;) {
    ssize_t n = llistxattr(path, NULL, 0);
    if (n < 0) { if (errno == ENOTSUP) return arr; return throw_errno(env, errno, "llistxattr", path); }
    if (n == 0) return arr;
    char *buf = malloc((size_t)n);
    if (!buf) { napi_throw_error(env, NULL, "out of memory"); return NULL; }
    ssize_t m = llistxattr(path, buf, (size_t)n);
    if (m < 0) { int e = errno; free(buf); if (e == ERANGE) continue; return throw_errno(env, e, "llistxattr", path); }
    uint32_t i = 0; ssize_t off = 0;
    while (off < m) {
      size_t l = strlen(buf + off);
      napi_value s; napi_create_string_utf8(env, buf + off, l, &s);
      napi_set_element(env, arr, i++, s);
      off += (ssize_t)l + 1;
    }
    free(buf);
    return arr;
  }
}

/* lremovexattr(path, name) */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char path[PATH_BUF], name[512];
  if (!get_str(env, a[0], path, sizeof path) || !get_str(env, a[1], name, sizeof name)) return NULL;
  if (lremovexattr(path, name) != 0 && errno != ENODATA) return throw_errno(env, errno, "lremovexattr", path);
  return undef(env);
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value a[5];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  static char src[PATH_BUF], tgt[PATH_BUF], fstype[256], data[65536];
  double flags = 0;
  if (!get_str(env, a[0], src, sizeof src) || !get_str(env, a[1], tgt, sizeof tgt) ||
      !get_str(env, a[2], fstype, sizeof fstype) || !get_str(env, a[4], data, sizeof data)) return NULL;
  napi_get_value_double(env, a[3], &flags);
  if (mount(src[0] ? src : NULL, tgt, fstype[0] ? fstype : NULL, (unsigned long)flags, data[0] ? data : NULL) != 0)
    return throw_errno(env, errno, "mount", tgt);
  return undef(env);
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value a[2];
  napi_get_cb_info(env, info, &argc, a, NULL, NULL);
  char tgt[PATH_BUF]; int32_t flags = 0;
  if (!get_str(env, a[0], tgt, sizeof tgt)) return NULL;
  napi_get_value_int32(env, a[1], &flags);
  if (umount2(tgt, flags) != 0) return throw_errno(env, errno, "umount2", tgt);
  return undef(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
    {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
