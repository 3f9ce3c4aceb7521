#!/usr/bin/env python3
"""Builds the seed corpora of the per-analyzer fuzz targets from reference
captures: the TCP payloads (or UDP/ICMP messages) of one capture, in
capture order, as records of the harness format (fuzz/common/analyzer.rs):
[options=0][ctl len payload]*, payloads cut into pieces of at most 255
bytes, at most MAX bytes in all. Usage: make_seeds.py TARGET PORT PCAP...
(PORT 0: ICMP), writing corpus/analyzer_TARGET/<capture name>."""
import os
import struct
import sys

MAX = 4096


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        yield link, data[off + 16:off + 16 + incl]
        off += 16 + incl


def ip_of(link, f):
    if link == 1:
        et, p = struct.unpack(">H", f[12:14])[0], f[14:]
        while et in (0x8100, 0x88A8):
            et, p = struct.unpack(">H", p[2:4])[0], p[4:]
    elif link == 113:
        et, p = struct.unpack(">H", f[14:16])[0], f[16:]
    elif link in (0, 108):
        fam = struct.unpack("<I", f[:4])[0]
        et, p = (0x0800 if fam == 2 else 0x86DD), f[4:]
    else:
        return None
    if et == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        tot = struct.unpack(">H", p[2:4])[0]
        return p[9], p[ihl:tot]
    if et == 0x86DD and len(p) >= 40:
        return p[6], p[40:40 + struct.unpack(">H", p[4:6])[0]]
    return None


def records(port, path):
    out = bytearray([0])
    for link, f in frames(path):
        r = ip_of(link, f)
        if r is None:
            continue
        proto, l4 = r
        if port == 0:
            if proto in (1, 58):
                chunks, ctl = [l4], 0
            else:
                continue
        elif proto in (6, 17) and len(l4) >= 8:
            sp, dp = struct.unpack(">HH", l4[:4])
            if port not in (sp, dp):
                continue
            ctl = 0 if dp == port else 1
            if proto == 6:
                body = l4[(l4[12] >> 4) * 4:]
            else:
                body, ctl = l4[8:], ctl | 0x40
            chunks = [body[i:i + 255] for i in range(0, len(body), 255)]
        else:
            continue
        for c in chunks:
            if c and len(out) + 2 + len(c) <= MAX:
                out += bytes([ctl, len(c)]) + c
    return bytes(out)


def main():
    target, port = sys.argv[1], int(sys.argv[2])
    d = os.path.join(os.path.dirname(__file__), "..", "corpus", "analyzer_" + target)
    os.makedirs(d, exist_ok=True)
    for p in sys.argv[3:]:
        rec = records(port, p)
        if len(rec) > 1:
            name = os.path.splitext(os.path.basename(p))[0]
            with open(os.path.join(d, name), "wb") as f:
                f.write(rec)


if __name__ == "__main__":
    main()
