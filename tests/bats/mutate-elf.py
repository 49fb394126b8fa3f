#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Deterministic corruptions of a real ELF file, for tests/bats/23-hostile-files.bats.

  mutate-elf.py copies  MODE SRC OUTDIR N SEED   N corrupted copies OUTDIR/NNN (+ .how)
  mutate-elf.py inplace ORIG TARGET SEED [ONLY]  restore TARGET's unloaded bytes from ORIG,
                                                 then corrupt them; prints what it did
  mutate-elf.py serve ORIG TARGET [ONLY]         the same for each seed read from stdin
  mutate-elf.py entsize TARGET                   .symtab and .dynsym: sh_entsize > sh_size

MODE any: anything may change (headers, sections, the file cut short). MODE debug: a separate
debug file found by its build-id: anything but the build-id note, so that it is still taken.
inplace: a file a live process has mapped: only bytes outside every PT_LOAD segment's file
range (section headers, non-allocated sections: .symtab, .strtab, .shstrtab, .note.stapsdt,
.debug_*), in place (same inode), and never cut short within a page the process mapped: never
a byte the process uses. ONLY: a section name prefix to stay in.
Each copy gets 1 to 3 corruptions: header fields set to edge values (0, 1, all ones, the file
size, entsize > size...), bytes and integers overwritten inside the sections readers use, note
headers broken, strings left unterminated, SHF_COMPRESSED set where nothing is compressed.
"""
import os
import random
import struct
import sys

EH = struct.Struct('<16sHHIQQQIHHHHHH')
SH = struct.Struct('<IIQQQQIIQQ')
PH = struct.Struct('<IIQQQQQQ')
SH_FIELDS = [  # name, offset in the header, width
    ('sh_name', 0, 4), ('sh_type', 4, 4), ('sh_flags', 8, 8), ('sh_addr', 16, 8),
    ('sh_offset', 24, 8), ('sh_size', 32, 8), ('sh_link', 40, 4), ('sh_info', 44, 4),
    ('sh_addralign', 48, 8), ('sh_entsize', 56, 8)]
EH_FIELDS = [('e_phoff', 32, 8), ('e_shoff', 40, 8), ('e_phentsize', 54, 2),
             ('e_phnum', 56, 2), ('e_shentsize', 58, 2), ('e_shnum', 60, 2),
             ('e_shstrndx', 62, 2), ('e_ident_class', 4, 1), ('e_ident_data', 5, 1)]
PH_FIELDS = [('p_type', 0, 4), ('p_flags', 4, 4), ('p_offset', 8, 8), ('p_vaddr', 16, 8),
             ('p_filesz', 32, 8), ('p_memsz', 40, 8)]
SHF_COMPRESSED = 0x800


class Elf:
    def __init__(self, data):
        self.data = bytearray(data)
        (_, _, _, _, _, self.phoff, self.shoff, _, _, _, self.phnum, _, self.shnum,
         self.shstrndx) = EH.unpack_from(self.data, 0)
        self.sh = [SH.unpack_from(self.data, self.shoff + i * 64) for i in range(self.shnum)]
        self.ph = [PH.unpack_from(self.data, self.phoff + i * 56) for i in range(self.phnum)]
        names = self.sh[self.shstrndx]
        self.names = []
        for s in self.sh:
            at = names[4] + s[0]
            self.names.append(bytes(self.data[at:self.data.index(b'\0', at)]).decode())

    def sections(self, pred=lambda i, name, s: True):
        return [i for i, s in enumerate(self.sh) if i and s[1] != 8 and s[5] and
                pred(i, self.names[i], s)]

    def loaded(self):
        """The file ranges of the PT_LOAD segments: what a process uses of the file. (The rest
        of their first and last pages is mapped too, but never read by the process.)"""
        return [(p[2], p[2] + p[5]) for p in self.ph if p[0] == 1]


def edge_values(rng, old, width, size):
    vals = [0, 1, 2, 3, 7, 8, 0x10, 0x18, 0x19, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000,
            0xff00, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32, (1 << 63) - 1,
            1 << 63, (1 << 64) - 1, size, size - 1, size + 1, old + 1, old - 1, old * 2,
            old ^ (1 << rng.randrange(width * 8)), rng.getrandbits(width * 8)]
    return rng.choice(vals) & ((1 << (width * 8)) - 1)


def put(data, off, width, val, ok):
    if off < 0 or off + width > len(data) or not ok(off, width):
        return False
    data[off:off + width] = val.to_bytes(width, 'little')
    return True


def mutate_once(rng, elf, data, mode, ok, only):
    """One corruption; returns a word saying what, or None when it could not be done."""
    size = len(data)
    in_only = (lambda name: name.startswith(only)) if only else (lambda name: True)
    protect = (lambda i, name, s: not name.startswith('.note.gnu.build-id')) \
        if mode == 'debug' else (lambda i, name, s: True)
    kinds = ['shdr', 'bytes', 'ints', 'note', 'unterminated', 'compressed', 'entsize', 'usdt']
    if mode != 'inplace':
        kinds += ['ehdr', 'phdr', 'cut']
    elif only is None:
        kinds += ['cut']
    kind = rng.choice(kinds)
    secs = elf.sections(lambda i, name, s: protect(i, name, s) and in_only(name) and
                        ok(s[4], s[5]))
    if kind == 'shdr':
        cands = [i for i in range(elf.shnum) if protect(i, elf.names[i], elf.sh[i])]
        if only:
            cands = [i for i in cands if in_only(elf.names[i])]
        if not cands:
            return None
        i = rng.choice(cands)
        name, off, width = rng.choice(SH_FIELDS)
        at = elf.shoff + i * 64 + off
        old = int.from_bytes(data[at:at + width], 'little')
        if put(data, at, width, edge_values(rng, old, width, size), ok):
            return f'shdr[{i}:{elf.names[i]}].{name}'
    elif kind == 'ehdr':
        name, off, width = rng.choice(EH_FIELDS)
        old = int.from_bytes(data[off:off + width], 'little')
        if put(data, off, width, edge_values(rng, old, width, size), ok):
            return f'ehdr.{name}'
    elif kind == 'phdr' and elf.phnum:
        i = rng.randrange(elf.phnum)
        name, off, width = rng.choice(PH_FIELDS)
        at = elf.phoff + i * 56 + off
        old = int.from_bytes(data[at:at + width], 'little')
        if put(data, at, width, edge_values(rng, old, width, size), ok):
            return f'phdr[{i}].{name}'
    elif kind in ('bytes', 'ints', 'unterminated') and secs:
        pick = [i for i in secs if rng.random() < 0.5 and
                elf.names[i].startswith(('.symtab', '.strtab', '.dynsym', '.dynstr',
                                         '.shstrtab', '.note', '.debug_', '.stapsdt',
                                         '.gnu_debugaltlink'))] or secs
        i = rng.choice(pick)
        s = elf.sh[i]
        lo, n = s[4], s[5]
        if kind == 'bytes':
            for _ in range(rng.randint(1, 16)):
                at = lo + rng.randrange(n)
                put(data, at, 1, rng.choice([0, 0xff, 0x80, 0x7f, rng.getrandbits(8)]), ok)
        elif kind == 'ints':
            width = rng.choice([4, 8])
            for _ in range(rng.randint(1, 4)):
                at = lo + rng.randrange(max(1, n // width)) * width
                old = int.from_bytes(data[at:at + width], 'little')
                put(data, at, width, edge_values(rng, old, width, size), ok)
        else:  # strings without their NUL: a run of 'A' to the end of the section
            at = lo + rng.randrange(n)
            end = min(lo + n, size)
            if ok(at, end - at):
                data[at:end] = b'A' * (end - at)
        return f'{kind}:{elf.names[i]}'
    elif kind == 'note':
        notes = [i for i in secs if elf.sh[i][1] == 7]
        if not notes:
            return None
        i = rng.choice(notes)
        s = elf.sh[i]
        at, end = s[4], s[4] + s[5]
        while at + 12 <= end and rng.random() < 0.7:  # walk to a random note
            namesz, descsz = struct.unpack_from('<II', data, at)
            nxt = at + 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
            if nxt <= at or nxt + 12 > end:
                break
            at = nxt
        field = rng.randrange(3)
        old = int.from_bytes(data[at + 4 * field:at + 4 * field + 4], 'little')
        if put(data, at + 4 * field, 4, edge_values(rng, old, 4, size), ok):
            return f'note:{elf.names[i]}.{["namesz", "descsz", "type"][field]}'
    elif kind == 'usdt':
        # a probe's site or semaphore moved: a few bytes off, onto another probe's, or far
        stap = [i for i in secs if elf.names[i] == '.note.stapsdt']
        if not stap:
            return None
        s = elf.sh[stap[0]]
        descs, at, end = [], s[4], s[4] + s[5]
        while at + 12 <= end:
            namesz, descsz = struct.unpack_from('<II', data, at)
            d = at + 12 + ((namesz + 3) & ~3)
            if descsz >= 24 and d + 24 <= end:
                descs.append(d)
            nxt = d + ((descsz + 3) & ~3)
            if nxt <= at:
                break
            at = nxt
        if not descs:
            return None
        d = rng.choice(descs)
        field = rng.choice([0, 16])
        old = int.from_bytes(data[d + field:d + field + 8], 'little')
        other = int.from_bytes(data[rng.choice(descs) + rng.choice([0, 16]):][:8], 'little')
        val = rng.choice([old + 1, old - 1, old + 2, old + 3, old + 5, old + 0x10, old - 0x10,
                          old + 0x1000, other, other + 1, 0, old ^ (1 << rng.randrange(20)),
                          edge_values(rng, old, 8, size)]) & ((1 << 64) - 1)
        if put(data, d + field, 8, val, ok):
            return f'usdt:{["pc", "", "semaphore"][field // 8]}'
    elif kind == 'compressed':
        dbg = [i for i in secs if elf.names[i].startswith('.debug_')]
        if not dbg:
            return None
        i = rng.choice(dbg)
        at = elf.shoff + i * 64 + 8
        flags = int.from_bytes(data[at:at + 8], 'little')
        if put(data, at, 8, flags | SHF_COMPRESSED, ok):
            return f'compressed:{elf.names[i]}'
    elif kind == 'entsize':
        tabs = [i for i in range(elf.shnum) if elf.sh[i][1] in (2, 11) and
                protect(i, elf.names[i], elf.sh[i]) and in_only(elf.names[i])]
        if not tabs:
            return None
        # one table, or every one (so that no table gives a symbol: what once freed twice)
        done = [i for i in (tabs if rng.random() < 0.5 else [rng.choice(tabs)])
                if put(data, elf.shoff + i * 64 + 56, 8, elf.sh[i][5] + rng.choice([1, 24, 4096]),
                       ok)]
        if done:
            return 'entsize>size:' + ','.join(elf.names[i] for i in done)
    elif kind == 'cut':
        # in place, never a page the process has mapped
        floor = max([(hi + 0xfff) & ~0xfff for _, hi in elf.loaded()] + [0]) \
            if mode == 'inplace' else 0
        if floor >= size:
            return None
        return f'cut:{rng.randrange(floor, size)}'
    return None


def corrupt(rng, data, mode, ok=lambda off, n: True, only=None):
    elf = Elf(data)
    out = bytearray(data)
    did, cut = [], None
    for _ in range(rng.randint(1, 3)):
        for _ in range(20):
            what = mutate_once(rng, elf, out, mode, ok, only)
            if what:
                break
        if what and what.startswith('cut:'):
            cut = int(what[4:])
        if what:
            did.append(what)
    return out, cut, did


def main():
    cmd = sys.argv[1]
    if cmd == 'copies':
        mode, src, outdir, n, seed = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), \
            int(sys.argv[6])
        data = open(src, 'rb').read()
        rng = random.Random(seed)
        os.makedirs(outdir, exist_ok=True)
        for k in range(n):
            out, cut, did = corrupt(rng, data, mode)
            with open(f'{outdir}/{k:03d}', 'wb') as f:
                f.write(out[:cut] if cut is not None else out)
            with open(f'{outdir}/{k:03d}.how', 'w') as f:
                f.write(' '.join(did) + '\n')
    elif cmd in ('inplace', 'serve'):
        orig, target = sys.argv[2], sys.argv[3]
        if cmd == 'inplace':
            seeds, only = [int(sys.argv[4])], (sys.argv[5] if len(sys.argv) > 5 else None)
        else:  # one seed per line on stdin, one answer per line: no start-up cost per round
            seeds, only = (int(line) for line in sys.stdin), \
                (sys.argv[4] if len(sys.argv) > 4 else None)
        data = open(orig, 'rb').read()
        loaded = Elf(data).loaded()

        def ok(off, n):
            return all(off + n <= lo or off >= hi for lo, hi in loaded)
        for seed in seeds:
            out, cut, did = corrupt(random.Random(seed), data, 'inplace', ok, only)
            fd = os.open(target, os.O_WRONLY)
            try:
                # the original's length back (a round before may have cut it), then every
                # unloaded byte as this round has it: the loaded ones are never written
                if os.fstat(fd).st_size < len(data):
                    os.ftruncate(fd, len(data))
                for lo, hi in gaps(loaded, len(data)):
                    os.pwrite(fd, bytes(out[lo:hi]), lo)
                if cut is not None:
                    os.ftruncate(fd, cut)
            finally:
                os.close(fd)
            print(' '.join(did) or 'nothing', flush=True)
    elif cmd == 'entsize':
        target = sys.argv[2]
        data = open(target, 'rb').read()
        elf = Elf(data)
        fd = os.open(target, os.O_WRONLY)
        for i in range(elf.shnum):
            if elf.sh[i][1] in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
                os.pwrite(fd, (elf.sh[i][5] + 24).to_bytes(8, 'little'),
                          elf.shoff + i * 64 + 56)
        os.close(fd)
    else:
        sys.exit(__doc__)


def gaps(loaded, size):
    """The ranges of [0, size) outside every loaded range."""
    at = 0
    for lo, hi in sorted(loaded):
        if lo > at:
            yield at, min(lo, size)
        at = max(at, hi)
    if at < size:
        yield at, size


if __name__ == '__main__':
    main()
