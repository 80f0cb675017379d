"""Read files out of a Qt resource (.rcc) file: GCompris ships its sounds this way (spec/data.md section 7).

Layout: b"qres", then big-endian u32 version, tree offset, data offset, names offset. Tree nodes are 14 bytes
(version 1) or 22 bytes (version >= 2, an extra u64 modification time): u32 name offset, u16 flags
(2 = directory: u32 child count, u32 first child index; otherwise u16 country, u16 language, u32 data offset).
Names: u16 length, u32 hash, UTF-16BE. Data: u32 size + bytes; flag 1 = zlib with a 4-byte size prefix
(qCompress), flag 4 = zstd (not used by the members we read; reported as an error).
"""
import fnmatch
import struct
import zlib

_COMPRESSED, _DIRECTORY, _ZSTD = 1, 2, 4


def _u16(b, o):
    return struct.unpack_from(">H", b, o)[0]


def _u32(b, o):
    return struct.unpack_from(">I", b, o)[0]


def list_members(path):
    """{"/dir/sub/name.ext": (flags, data_offset)} for every file in the resource tree."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource file (no 'qres' magic)")
    version, tree, data, names = struct.unpack_from(">IIII", b, 4)
    node_size = 14 if version == 1 else 22

    def name_of(node):
        off = names + _u32(b, tree + node * node_size)
        n = _u16(b, off)
        return b[off + 6: off + 6 + 2 * n].decode("utf-16-be")

    out = {}

    def walk(node, prefix):
        base = tree + node * node_size
        flags = _u16(b, base + 4)
        if flags & _DIRECTORY:
            count, first = _u32(b, base + 6), _u32(b, base + 10)
            for child in range(first, first + count):
                walk(child, prefix + "/" + name_of(child))
        else:
            out[prefix] = (flags, data + _u32(b, base + 10))

    walk(0, "")
    return out, b


def extract(path, member_glob):
    """[(member path, bytes)] of the members matching member_glob (fnmatch on the full member path), sorted."""
    members, b = list_members(path)
    found = []
    for name in sorted(members):
        if not fnmatch.fnmatchcase(name, member_glob) and not fnmatch.fnmatchcase(name.lstrip("/"), member_glob):
            continue
        flags, off = members[name]
        size = _u32(b, off)
        payload = b[off + 4: off + 4 + size]
        if flags & _ZSTD:
            raise ValueError(f"{path}:{name}: zstd-compressed member (not supported)")
        if flags & _COMPRESSED:
            payload = zlib.decompress(payload[4:])
        found.append((name, payload))
    return found
