#!/usr/bin/env python3
"""Check an export the way a viewer reads it.

  export-check.py perfetto FILE.pftrace [--names OUT]
  export-check.py chrome FILE.json

perfetto: the wire bytes are walked by field number (tests/proto/perfetto_trace.proto holds the
same numbers; the bats test also decodes with protoc against it). Checks: every packet a
TracePacket of the one sequence; every string field strict UTF-8; every timestamped packet on
CLOCK_MONOTONIC (timestamp_clock_id 3); every event on a track declared before it; on each
track, slices begin and end in pairs, never nested (a thread runs one task at a time); every
terminating flow id was started before. --names writes the slice names, one per line (JSON
strings), for the caller to compare.

chrome: no negative ts; every flow start and end binds to a slice or instant by
(ts, pid, tid, cat), the way DevTools binds them (a flow of another category binds to
nothing); every flow that ends was started.
"""
import json
import sys

MONOTONIC = 3


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = int.from_bytes(b[i:i + 8], 'little'), i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = int.from_bytes(b[i:i + 4], 'little'), i + 4
        else:
            raise ValueError(f"wire type {wt}")
        if i > len(b):
            raise ValueError("field runs past its message")
        yield f, wt, v


def msg(b):
    """{field: [values]}"""
    m = {}
    for f, _, v in fields(b):
        m.setdefault(f, []).append(v)
    return m


def string(v):
    return v.decode('utf-8')  # strict: raises on anything that is not UTF-8


def perfetto(path, names_out):
    tracks, open_on, flows = set(), {}, set()
    names = []
    counts = dict(packets=0, begins=0, ends=0, instants=0, flows_out=0, flows_in=0)
    for f, wt, pk in fields(open(path, 'rb').read()):
        assert f == 1 and wt == 2, f"not a Trace packet: field {f}"
        p = msg(pk)
        counts['packets'] += 1
        assert p.get(10) == [1], f"packet {counts['packets']}: sequence id {p.get(10)}"
        if 8 in p:
            assert p.get(58) == [MONOTONIC], f"timestamp without CLOCK_MONOTONIC: {p.get(58)}"
        if 60 in p:
            d = msg(p[60][0])
            string(d[2][0])
            for sub, sf in ((3, 6), (4, 5)):
                if sub in d:
                    string(msg(d[sub][0])[sf][0])
            tracks.add(d[1][0])
        if 11 in p:
            assert 8 in p, "a track event without a timestamp"
            e = msg(p[11][0])
            track = e[11][0]
            assert track in tracks, f"event on undeclared track {track}"
            for c in e.get(22, []):
                string(c)
            for a in e.get(4, []):
                am = msg(a)
                string(am[10][0])
                for s in am.get(6, []):
                    string(s)
            kind = e[9][0]
            if kind == 1:
                assert not open_on.get(track), f"slice begun inside another on {track}"
                open_on[track] = True
                names.append(string(e[23][0]))
                counts['begins'] += 1
            elif kind == 2:
                assert open_on.get(track), f"slice ended on {track} with none begun"
                open_on[track] = False
                counts['ends'] += 1
            elif kind == 3:
                string(e[23][0])
                counts['instants'] += 1
            else:
                raise AssertionError(f"event type {kind}")
            for fid in e.get(47, []):
                flows.add(fid)
                counts['flows_out'] += 1
            for fid in e.get(48, []):
                assert fid in flows, f"flow {fid} ends before it starts"
                counts['flows_in'] += 1
    assert not any(open_on.values()), "a slice left open at the end"
    assert counts['begins'] == counts['ends']
    if names_out:
        with open(names_out, 'w') as o:
            for n in names:
                o.write(json.dumps(n) + '\n')
    print(' '.join(f"{k}={v}" for k, v in counts.items()))


def chrome(path):
    ev = json.load(open(path, encoding='utf-8'))['traceEvents']
    timed = [e for e in ev if 'ts' in e]
    neg = [e for e in timed if e['ts'] < 0]
    assert not neg, f"{len(neg)} negative timestamps, e.g. {neg[0]}"
    anchors = {(e['ts'], e['pid'], e['tid'], e['cat']) for e in timed if e['ph'] in 'Xi'}
    flows = [e for e in timed if e['ph'] in 'sf']
    unbound = [e for e in flows if (e['ts'], e['pid'], e['tid'], e['cat']) not in anchors]
    assert not unbound, f"{len(unbound)} of {len(flows)} flow events bind to no slice, e.g. {unbound[0]}"
    started = {e['id'] for e in flows if e['ph'] == 's'}
    assert all(e['id'] in started for e in flows if e['ph'] == 'f')
    print(f"events={len(ev)} flows={len(flows)} bound={len(flows) - len(unbound)}")


if __name__ == '__main__':
    if sys.argv[1] == 'perfetto':
        perfetto(sys.argv[2], sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == '--names' else None)
    else:
        chrome(sys.argv[2])
