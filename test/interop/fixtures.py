# fixtures.py: layer tars with the oddities Docker's loader meets in the wild, and a
# tar lister, for test/interop/archive-fidelity.test.ts. Python's tarfile writes what
# stowage's own writer never would (hardlink entries with their own metadata,
# non-UTF-8 names in every header form, PAX global headers, binary xattrs), so the
# fixtures do not share code with what they test.
#
#   python3 fixtures.py make OUTDIR BUSYBOX     writes OUTDIR/<case>.tar for each case
#   python3 fixtures.py list TARFILE            one JSON line per entry (see list_tar)
import hashlib
import io
import json
import struct
import sys
import tarfile

MTIME = 946684800  # 2000-01-01


def add(t, name, type=tarfile.REGTYPE, data=b'', mode=0o644, uid=0, gid=0, mtime=MTIME,
        linkname='', pax=None, devmajor=0, devminor=0):
    if isinstance(name, bytes):
        name = name.decode('utf-8', 'surrogateescape')
    if isinstance(linkname, bytes):
        linkname = linkname.decode('utf-8', 'surrogateescape')
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime, ti.linkname = type, mode, uid, gid, mtime, linkname
    ti.devmajor, ti.devminor = devmajor, devminor
    if pax:
        ti.pax_headers = pax
    if type == tarfile.REGTYPE:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)


def base(t, busybox):
    add(t, 'bin', tarfile.DIRTYPE, mode=0o755)
    add(t, 'bin/busybox', data=busybox, mode=0o755)
    add(t, 'bin/sh', tarfile.SYMTYPE, linkname='busybox')


def links(t, busybox):
    base(t, busybox)
    # A hardlink entry carrying its own mode, owner and mtime (Docker applies them to the inode).
    add(t, 'f', data=b'hello', mode=0o644, uid=1, gid=2, mtime=1000000000)
    add(t, 'hl', tarfile.LNKTYPE, linkname='f', mode=0o600, uid=7, gid=8, mtime=1200000000)
    # Hardlinks to a symlink, a FIFO and a device stay hardlinks.
    add(t, 'sl', tarfile.SYMTYPE, linkname='f', uid=3, gid=3)
    add(t, 'hsl', tarfile.LNKTYPE, linkname='sl', mode=0o700, uid=9, gid=9)
    add(t, 'fifo', tarfile.FIFOTYPE, mode=0o640)
    add(t, 'hfifo', tarfile.LNKTYPE, linkname='fifo', mode=0o600)
    add(t, 'cdev', tarfile.CHRTYPE, mode=0o600, devmajor=1, devminor=3)
    add(t, 'hcdev', tarfile.LNKTYPE, linkname='cdev', mode=0o640, uid=5)
    # ".." that stays inside the root, and other spellings Docker cleans.
    add(t, 'a/b/../c', data=b'c')
    add(t, '/../top', data=b'top')
    add(t, './x/./y', data=b'y')
    add(t, 'z//w', data=b'w')


def nonutf8(t, busybox):
    base(t, busybox)
    add(t, b'pax-caf\xe9-\xff.txt', data=b'pax')            # PAX path record (tarfile: hdrcharset BINARY)
    add(t, b'dir-\xe9', tarfile.DIRTYPE, mode=0o755)
    add(t, b'dir-\xe9/inner-\xfe', data=b'inner')
    add(t, b'link-\xe9', tarfile.SYMTYPE, linkname=b'target-\xff')
    add(t, b'hard-\xe9', tarfile.LNKTYPE, linkname=b'pax-caf\xe9-\xff.txt')


def nonutf8_ustar(t, busybox):
    # The raw name field holds the bytes (no PAX): the oldest form.
    base(t, busybox)
    add(t, b'ustar-\xe9\xff', data=b'ustar')


def nonutf8_gnu(t, busybox):
    base(t, busybox)
    add(t, b'gnu-' + b'\xe9' * 120, data=b'gnu long name')  # > 100 bytes: a GNU 'L' long name


def pax_global(path, busybox):
    # Two forms: a 'g' header holding records (as GNU tar writes it), and what
    # Python's tarfile writes for a global header (an 'x' with the records, then an
    # empty 'g'). Docker applies neither to the entries after them.
    with tarfile.open(path, 'w', format=tarfile.PAX_FORMAT) as t:
        base(t, busybox)
        rec = b'12 uid=4242\n20 mtime=1300000000\n16 path=renamed\n'
        g = tarfile.TarInfo('gdir/GlobalHead.1')
        g.type, g.size = tarfile.XGLTYPE, len(rec)
        buf = g.tobuf(tarfile.USTAR_FORMAT, 'utf-8', 'strict') + rec + b'\0' * (512 - len(rec))
        t.fileobj.write(buf)
        t.offset += len(buf)
        add(t, 'gfile', data=b'g')
        g2 = tarfile.TarInfo('gdir2/GlobalHead.2')
        g2.type = tarfile.XGLTYPE
        g2.pax_headers = {'uid': '4343', 'path': 'renamed2'}
        buf = g2.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape')
        t.fileobj.write(buf)
        t.offset += len(buf)
        add(t, 'gfile2', data=b'g2')


def caps(t, busybox, v3_root):
    base(t, busybox)
    perm = 0x00000400  # CAP_NET_BIND_SERVICE
    v2 = struct.pack('<IIIII', 0x02000001, perm, 0, 0, 0)
    v3 = struct.pack('<IIIIII', 0x03000001, perm, 0, 0, 0, v3_root)
    for name, value in (('cap-v2', v2), ('cap-v3', v3)):
        add(t, name, data=b'#!/bin/sh\n', mode=0o755,
            pax={'SCHILY.xattr.security.capability': value.decode('utf-8', 'surrogateescape'),
                 'SCHILY.xattr.user.note': 'kept'})


def whiteouts_lower(t, busybox):
    base(t, busybox)
    add(t, 'keep', tarfile.DIRTYPE, mode=0o755)
    add(t, 'keep/file', data=b'keep')
    add(t, 'gone', data=b'gone')


def whiteouts_odd(t, busybox):
    # Legal oddities: whiteouts of paths that never existed (also under a missing
    # parent), an opaque marker in a directory the lower layers lack, a whiteout
    # and a re-add of the same name, the same file as a relative and a rooted
    # name (Docker takes both; './twice' would be a duplicate), and a
    # directory entry after its contents.
    add(t, '.wh.never-existed', data=b'')
    add(t, 'missing-parent/.wh.nothing', data=b'')
    add(t, 'newdir/.wh..wh..opq', data=b'')
    add(t, 'newdir/x', data=b'x')
    add(t, '.wh.gone', data=b'')
    add(t, 'gone', data=b'back again')
    add(t, 'twice', data=b'first')
    add(t, '/twice', data=b'second', mode=0o600)
    add(t, 'late/inner', data=b'inner')
    add(t, 'late', tarfile.DIRTYPE, mode=0o750, mtime=1100000000)


def duplicates(t, busybox):
    # The same name twice, spelled the same: Docker's tar-split refuses the layer.
    base(t, busybox)
    add(t, 'twice', data=b'first')
    add(t, 'twice', data=b'second')


def make(out, busybox_path):
    busybox = open(busybox_path, 'rb').read()
    cases = {
        'links': links, 'nonutf8': nonutf8, 'nonutf8-gnu': nonutf8_gnu,
        'caps-v3root0': lambda t, b: caps(t, b, 0), 'caps-v3root1000': lambda t, b: caps(t, b, 1000),
        'whiteouts-lower': whiteouts_lower, 'whiteouts-odd': whiteouts_odd, 'duplicates': duplicates,
    }
    for name, fn in cases.items():
        fmt = tarfile.GNU_FORMAT if name == 'nonutf8-gnu' else tarfile.PAX_FORMAT
        with tarfile.open(f'{out}/{name}.tar', 'w', format=fmt, encoding='utf-8', errors='surrogateescape') as t:
            fn(t, busybox)
    with tarfile.open(f'{out}/nonutf8-ustar.tar', 'w', format=tarfile.USTAR_FORMAT, encoding='latin-1', errors='surrogateescape') as t:
        nonutf8_ustar(t, busybox)
    pax_global(f'{out}/pax-global.tar', busybox)


def list_tar(path):
    """Every entry: name and link target as hex bytes, type, mode, owner, mtime, device,
    content sha256, xattrs (hex values); hardlinks as type 'link' with their target."""
    with tarfile.open(path, 'r', encoding='utf-8', errors='surrogateescape') as t:
        for m in t:
            name = m.name.encode('utf-8', 'surrogateescape').rstrip(b'/')
            e = {'name': name.hex(), 'shown': name.decode('utf-8', 'replace'), 'type': m.type.decode(),
                 'mode': m.mode & 0o7777, 'uid': m.uid, 'gid': m.gid, 'mtime': int(m.mtime)}
            if m.issym() or m.islnk():
                e['link'] = m.linkname.encode('utf-8', 'surrogateescape').hex()
            if m.ischr() or m.isblk():
                e['dev'] = [m.devmajor, m.devminor]
            if m.isreg():
                e['sha256'] = hashlib.sha256(t.extractfile(m).read()).hexdigest()
                e['size'] = m.size
            xa = {k[len('SCHILY.xattr.'):]: v.encode('utf-8', 'surrogateescape').hex()
                  for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')}
            if xa:
                e['xattrs'] = dict(sorted(xa.items()))
            print(json.dumps(e))


if __name__ == '__main__':
    if sys.argv[1] == 'make':
        make(sys.argv[2], sys.argv[3])
    else:
        list_tar(sys.argv[2])
