#!/usr/bin/env python3
"""Generate a deterministic tree of mixed backup-like data, or mutate one.

  gendata.py DIR --size 1G [--seed N]     create DIR (must be absent or empty)
  gendata.py DIR --mutate 1% [--seed N]   change about 1% of DIR's bytes in place

The tree mixes what a desktop backup sees:
  small/   many files of a few KiB (text and binary)              ~10%
  medium/  files of 32 KiB .. 4 MiB, log-uniform sizes              ~30%
  large/   a few big files: random media, a text log, a disk
           image with text, random and zero blocks                 ~45%
  dup/     files that share big pieces with others: a shifted copy
           of part of a large file, a tar-like bundle of medium
           files with headers between them                         ~15%
Text-like data compresses (lz4 ~2x); random data does not.

--mutate edits in place: overwrites spread over medium and large files, one
insertion in the middle of a large file (shifts everything after it), an
append to the log, a few new small files and a few deleted ones.  The same
tree and seed always give the same result.  stdlib only.
"""
import argparse
import os
import random
import sys

KIB = 1024
MIB = 1024 * KIB


def parse_size(s):
    s = s.strip().upper().rstrip("B")
    mult = 1
    for suffix, m in (("K", KIB), ("M", MIB), ("G", 1024 * MIB), ("T", 1024 ** 4)):
        if s.endswith(suffix):
            mult, s = m, s[:-1]
            break
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError("invalid size %r" % s)
    if v <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return int(v * mult)


def parse_pct(s):
    try:
        v = float(s.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError("invalid percentage %r" % s)
    if not 0 < v <= 100:
        raise argparse.ArgumentTypeError("percentage must be in (0, 100]")
    return v / 100.0


class Text:
    """Text-like bytes: lines drawn from a pool of words, so lz4 finds
    repeats within its window but no two files share chunk-sized runs."""

    def __init__(self, rng):
        letters = "etaoinshrdlucmfwypvbgkqjxz"
        weights = [12, 9, 8, 7, 7, 6, 6, 6, 5, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
        words = set()
        while len(words) < 3000:
            n = rng.choice((2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 11))
            words.add("".join(rng.choices(letters, weights, k=n)))
        self.words = sorted(words)
        self.lines = []
        for _ in range(1024):
            k = rng.randint(3, 14)
            self.lines.append((" ".join(rng.choices(self.words, k=k)) + "\n").encode())

    def make(self, rng, n):
        out = []
        size = 0
        lines = self.lines
        while size < n:
            batch = rng.choices(lines, k=256)
            # A number per batch keeps runs unique, like timestamps in a log.
            batch.append(b"%d %08x\n" % (rng.getrandbits(40), rng.getrandbits(32)))
            chunk = b"".join(batch)
            out.append(chunk)
            size += len(chunk)
        return b"".join(out)[:n]


def rand_bytes(rng, n):
    return rng.randbytes(n)


def mixed(rng, text, n):
    """Disk-image-like: 64 KiB .. 1 MiB blocks of text, random or zeros."""
    out = []
    size = 0
    while size < n:
        b = min(n - size, rng.randint(64 * KIB, MIB))
        kind = rng.random()
        if kind < 0.4:
            out.append(text.make(rng, b))
        elif kind < 0.8:
            out.append(rand_bytes(rng, b))
        else:
            out.append(bytes(b))
        size += b
    return b"".join(out)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_stream(path, rng, n, gen):
    """Write a big file in pieces so memory stays small."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = n
        while left:
            b = min(left, 8 * MIB)
            f.write(gen(rng, b))
            left -= b


def generate(root, total, seed):
    rng = random.Random("gendata:%d" % seed)
    text = Text(rng)
    stats = {"files": 0, "bytes": 0}

    def add(path, data):
        write(os.path.join(root, path), data)
        stats["files"] += 1
        stats["bytes"] += len(data)

    # small files
    budget = int(total * 0.10)
    i = 0
    while budget > 0:
        n = min(budget, rng.randint(1 * KIB, 8 * KIB))
        data = text.make(rng, n) if rng.random() < 0.6 else rand_bytes(rng, n)
        ext = "txt" if data[:1].isascii() and data[:1].isalpha() else "bin"
        add("small/d%03d/f%05d.%s" % (i // 200, i, ext), data)
        budget -= n
        i += 1

    # medium files
    budget = int(total * 0.30)
    medium = []
    i = 0
    while budget > 0:
        n = min(budget, int(2 ** rng.uniform(15, 22)))
        r = rng.random()
        if r < 0.45:
            data = text.make(rng, n)
        elif r < 0.9:
            data = rand_bytes(rng, n)
        else:
            data = mixed(rng, text, n)
        path = "medium/m%02d/file%04d.dat" % (i // 50, i)
        add(path, data)
        medium.append(path)
        budget -= n
        i += 1

    # large files
    budget = int(total * 0.45)
    kinds = [("large/media.bin", lambda r, n: rand_bytes(r, n)),
             ("large/app.log", lambda r, n: text.make(r, n)),
             ("large/disk.img", lambda r, n: mixed(r, text, n)),
             ("large/archive.dat", lambda r, n: mixed(r, text, n))]
    per = budget // len(kinds)
    for path, gen in kinds:
        write_stream(os.path.join(root, path), rng, per, gen)
        stats["files"] += 1
        stats["bytes"] += per

    # duplicated regions
    budget = int(total * 0.15)
    half = budget // 2
    src = os.path.join(root, "large/disk.img")
    with open(src, "rb") as f:
        f.seek(rng.randrange(0, max(1, per - half)))
        piece = f.read(half)
    # a shifted copy: a small new header, then a big piece of disk.img
    add("dup/disk-part.img", rand_bytes(rng, 4321) + piece)
    del piece
    # a tar-like bundle of medium files, each behind a 512-byte header
    out = []
    size = 0
    for path in rng.sample(medium, len(medium)):
        if size >= budget - half:
            break
        with open(os.path.join(root, path), "rb") as f:
            data = f.read()
        out.append(path.encode().ljust(512, b"\0"))
        out.append(data)
        size += 512 + len(data)
    add("dup/bundle.tar", b"".join(out)[:max(0, budget - half)])
    return stats


def list_files(root):
    files = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append((os.path.relpath(p, root), os.path.getsize(p)))
    return files


def mutate(root, pct, seed):
    files = list_files(root)
    if not files:
        sys.exit("gendata: nothing to mutate in '%s'" % root)
    total = sum(s for _, s in files)
    rng = random.Random("mutate:%d:%d:%d" % (seed, total, len(files)))
    text = Text(random.Random("gendata:%d" % seed))
    budget = int(total * pct)
    changed = 0
    report = {"overwrites": 0, "inserted": 0, "appended": 0, "new": 0, "deleted": 0}

    big = [(p, s) for p, s in files if s >= 256 * KIB]
    small = [p for p, s in files if s < 16 * KIB]

    # overwrites in place, spread over big files in proportion to size
    ow = int(budget * 0.6)
    if big:
        weights = [s for _, s in big]
        while ow > 0:
            path, size = rng.choices(big, weights)[0]
            n = min(ow, rng.randint(64 * KIB, 1 * MIB), size)
            at = rng.randrange(0, size - n + 1)
            data = text.make(rng, n) if rng.random() < 0.5 else rand_bytes(rng, n)
            with open(os.path.join(root, path), "r+b") as f:
                f.seek(at)
                f.write(data)
            ow -= n
            changed += n
            report["overwrites"] += 1

    # one insertion in the middle of the biggest file
    if big:
        path, size = max(big, key=lambda x: (x[1], x[0]))
        n = int(budget * 0.15)
        at = size // 2 + rng.randrange(0, max(1, size // 10))
        full = os.path.join(root, path)
        tmp = full + ".gendata-tmp"
        with open(full, "rb") as f, open(tmp, "wb") as g:
            left = at
            while left:
                b = f.read(min(left, 8 * MIB))
                g.write(b)
                left -= len(b)
            g.write(rand_bytes(rng, n))
            while True:
                b = f.read(8 * MIB)
                if not b:
                    break
                g.write(b)
        os.replace(tmp, full)
        changed += n
        report["inserted"] = n

    # append to the log
    log = os.path.join(root, "large/app.log")
    if os.path.exists(log):
        n = int(budget * 0.10)
        with open(log, "ab") as f:
            f.write(text.make(rng, n))
        changed += n
        report["appended"] = n

    # new small files
    n = int(budget * 0.10)
    k = 0
    tag = rng.getrandbits(32)
    while n > 0:
        m = min(n, rng.randint(1 * KIB, 8 * KIB))
        write(os.path.join(root, "small/new-%08x/n%04d.txt" % (tag, k)), text.make(rng, m))
        n -= m
        changed += m
        k += 1
    report["new"] = k

    # a few deleted small files
    for p in rng.sample(small, min(len(small), max(3, len(small) // 1000))):
        os.remove(os.path.join(root, p))
        report["deleted"] += 1

    print("mutated %s: %d of %d bytes changed (%.2f%%); %d overwrites, "
          "%d bytes inserted, %d appended, %d new files, %d deleted"
          % (root, changed, total, 100.0 * changed / total, report["overwrites"],
             report["inserted"], report["appended"], report["new"], report["deleted"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--size", type=parse_size, help="total bytes to generate (1G, 300M, ...)")
    g.add_argument("--mutate", type=parse_pct, metavar="PCT", help="change PCT of the bytes (1%%)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.mutate is not None:
        if not os.path.isdir(a.dir):
            sys.exit("gendata: cannot mutate '%s': no such directory" % a.dir)
        mutate(a.dir, a.mutate, a.seed)
        return
    if os.path.exists(a.dir) and os.listdir(a.dir):
        sys.exit("gendata: '%s' exists and is not empty" % a.dir)
    os.makedirs(a.dir, exist_ok=True)
    st = generate(a.dir, a.size, a.seed)
    print("generated %s: %d files, %d bytes (seed %d)" % (a.dir, st["files"], st["bytes"], a.seed))


if __name__ == "__main__":
    main()
