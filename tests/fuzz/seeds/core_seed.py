#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small x86-64 core files for the core reader's fuzz target (tests/fuzz/fuzz_core.c):
   core_seed.py DIR
writes DIR/crash.core (a thread hit by SIGSEGV, with NT_SIGINFO, NT_PRPSINFO, NT_AUXV and an
NT_FILE naming a mapping whose dumped first page is an ELF header with a build-id note),
DIR/gcore.core (two threads, no signal) and DIR/xnum.core (the program header count in the
first section header, as for PN_XNUM). Each is under 16 KiB."""
import struct
import sys

PAGE = 0x1000


def note(name, ntype, desc):
    name = name.encode() + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def prstatus(tid, sig, rip, rsp, rbp):
    d = bytearray(336)
    struct.pack_into("<h", d, 12, sig)
    struct.pack_into("<i", d, 32, tid)
    regs = [0] * 27
    regs[4], regs[16], regs[19] = rbp, rip, rsp
    struct.pack_into("<27Q", d, 112, *regs)
    return bytes(d)


def elf_page(build_id):
    """An ELF header, one PT_NOTE program header and its build-id note, in one page."""
    n = note("GNU", 3, build_id)
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, 62, 1, 0,
                     64, 0, 0, 64, 56, 1, 64, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 4, 4, 120, 120, 120, len(n), len(n), 4)
    page = eh + ph + n
    return page + b"\0" * (PAGE - len(page))


def core(threads, loads, files, xnum=False):
    notes = b""
    for i, (tid, sig, regs) in enumerate(threads):
        notes += note("CORE", 1, prstatus(tid, sig, *regs))
        if i == 0:
            psinfo = bytearray(136)
            struct.pack_into("<i", psinfo, 24, tid)
            notes += note("CORE", 3, bytes(psinfo))
        if sig:
            si = struct.pack("<iiiiQ", sig, 0, 1, 0, 0) + b"\0" * 104
            notes += note("CORE", 0x53494749, si)
    notes += note("CORE", 6, struct.pack("<4Q", 9, files[0][0] + 0x10 if files else 0, 0, 0))
    if files:
        f = struct.pack("<QQ", len(files), PAGE)
        f += b"".join(struct.pack("<QQQ", s, e, o) for s, e, o, _ in files)
        f += b"".join(p.encode() + b"\0" for *_, p in files)
        notes += note("CORE", 0x46494C45, f)
    nph = 1 + len(loads)
    off = 64 + 56 * nph + (64 if xnum else 0)
    phdrs = [struct.pack("<IIQQQQQQ", 4, 4, off, 0, 0, len(notes), 0, 1)]
    data = notes
    for vaddr, memsz, contents, flags in loads:
        data += b"\0" * (-(off + len(data)) % 16)
        phdrs.append(struct.pack("<IIQQQQQQ", 1, flags, off + len(data), vaddr, 0,
                                 len(contents), memsz, 1))
        data += contents
    shoff = 64 + 56 * nph if xnum else 0
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 4, 62, 1, 0, 64,
                     shoff, 0, 64, 56, 0xFFFF if xnum else nph, 64, 1 if xnum else 0, 0)
    sh = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, nph, 0, 0) if xnum else b""
    return eh + b"".join(phdrs) + sh + data


def main(out):
    exe = (0x400000, 0x402000, 0, "/nonexistent/victim")
    stack = struct.pack("<4Q", 0x7000010, 0x401234, 0, 0) * 8
    crash = core([(100, 11, (0x401100, 0x7000000, 0x7000010)), (101, 0, (0x401000, 0x7000100, 0))],
                 [(0x400000, 0x2000, elf_page(bytes(range(20))), 5),
                  (0x7000000, 0x1000, stack, 6)], [exe])
    gcore = core([(200, 0, (0x401000, 0x7000000, 0)), (201, 0, (0x401000, 0x7000000, 0))],
                 [(0x7000000, 0x100, stack[:0x100], 6)], [])
    xnum = core([(300, 6, (0, 0, 0))], [(0x1000, 0x10, b"x" * 16, 4)], [], xnum=True)
    for name, b in (("crash", crash), ("gcore", gcore), ("xnum", xnum)):
        with open("%s/%s.core" % (out, name), "wb") as f:
            f.write(b)


main(sys.argv[1])
