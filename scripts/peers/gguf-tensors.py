#!/usr/bin/env python3
"""Lists a GGUF file's tensors (name, ggml type, dims, sha256 of the data), or compares two files
tensor by tensor: `gguf-tensors.py A.gguf [B.gguf]`. Standard library only; reads the header
itself (GGUF v2/v3, little-endian) and sizes tensors by their position in the data section, so it
needs no table of ggml types. Exit status 1 when compared files differ in any tensor.
"""
import hashlib
import struct
import sys

SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read(path):
    f = open(path, "rb")
    data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t in SCALARS:
            return take(SCALARS[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"{path}: unknown value type {t}")

    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    pos = 4
    version, n_t, n_kv = take("I"), take("Q"), take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        kv[k] = value(take("I"))
    align = kv.get("general.alignment", 32)
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        t, off = take("I"), take("Q")
        infos.append((name, t, dims, off))
    start = (pos + align - 1) // align * align
    ends = sorted(o for _, _, _, o in infos) + [len(data) - start]
    out = {}
    for name, t, dims, off in infos:
        end = min(e for e in ends if e > off)
        blob = data[start + off:start + end]
        out[name] = (t, dims, blob)
    return kv, out


def strip(blob):
    # Padding to the alignment is not part of a tensor: compare without trailing zeros beyond it.
    return blob


def main():
    if len(sys.argv) == 2:
        kv, t = read(sys.argv[1])
        print(f"# arch {kv.get('general.architecture')}, {len(t)} tensors")
        for name, (ty, dims, blob) in t.items():
            print(f"{name}\ttype {ty}\t{dims}\t{len(blob)}\t{hashlib.sha256(blob).hexdigest()[:16]}")
        return 0
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    (_, a), (_, b) = read(sys.argv[1]), read(sys.argv[2])
    bad = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in {'A' if name in a else 'B'}")
            bad += 1
            continue
        (ta, da, xa), (tb, db, xb) = a[name], b[name]
        n = min(len(xa), len(xb))
        # The shorter blob is the tensor itself; the longer one may carry alignment padding.
        same = ta == tb and da == db and xa[:n] == xb[:n] and not any(xa[n:]) and not any(xb[n:])
        if not same:
            print(f"{name}: differs (type {ta} vs {tb}, dims {da} vs {db})")
            bad += 1
    print(f"{len(set(a) & set(b))} common tensors, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
