#!/usr/bin/env python3
"""count_resp.py -- count Redis messages in a capture, independently of tapbeat.

Usage: count_resp.py FILE.pcap SERVER_PORT [--json]

Reads a classic pcap (Ethernet, Linux SLL or BSD loopback), rebuilds each TCP
connection to SERVER_PORT (both directions, by sequence number, duplicates
dropped), and parses RESP itself (stdlib only, no tapbeat code):

  requests       commands the clients sent: multibulk arrays with at least one
                 element, and non-blank inline lines (Redis ignores blank lines)
  replies        server messages that answer a command (one per command, except
                 that (un)subscribe commands get one confirmation per channel)
  confirmations  (un)subscribe confirmations among those replies
  pushes         server messages sent without a request: RESP3 '>' pushes other
                 than confirmations, and, once a connection has subscribed in
                 RESP2, arrays whose first element is message/pmessage/smessage
  errors         replies whose top-level value is an error ('-' or '!')
  connections    TCP connections to the port

Expected tapbeat transactions = requests + pushes (confirmations are folded
into their (un)subscribe command).
"""
import json
import struct
import sys

SUB = {b"subscribe", b"psubscribe", b"ssubscribe", b"unsubscribe", b"punsubscribe", b"sunsubscribe"}
DATA = {b"message", b"pmessage", b"smessage"}


def frames(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        magic = struct.unpack("<I", hdr[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        link = struct.unpack(endian + "I", hdr[20:24])[0]
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            _, _, incl, _ = struct.unpack(endian + "IIII", rec)
            yield link, f.read(incl)


def ip_payload(link, fr):
    if link == 1:  # Ethernet (VLAN tags not expected here)
        off, etype = 14, struct.unpack(">H", fr[12:14])[0]
    elif link == 113:  # Linux SLL
        off, etype = 16, struct.unpack(">H", fr[14:16])[0]
    elif link == 0:  # BSD loopback
        off, etype = 4, 0x0800
    else:
        raise SystemExit(f"link type {link} not handled")
    if etype != 0x0800:
        return None
    ip = fr[off:]
    if ip[9] != 6:
        return None
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    return ip[ihl:total]


def streams(path, port):
    """{(client_port): {'c': bytes, 's': bytes}} in connection order."""
    conns = {}
    for link, fr in frames(path):
        tcp = ip_payload(link, fr)
        if tcp is None:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        flags = tcp[13]
        doff = (tcp[12] >> 4) * 4
        data = tcp[doff:]
        if dport == port:
            key, d = sport, "c"
        elif sport == port:
            key, d = dport, "s"
        else:
            continue
        c = conns.setdefault(key, {"c": {}, "s": {}, "isn": {}})
        if flags & 0x02:  # SYN
            c["isn"][d] = seq + 1
        if data:
            c[d][seq] = data
    out = []
    for key, c in conns.items():
        res = {}
        for d in "cs":
            segs = sorted(c[d].items())
            buf = bytearray()
            nxt = c["isn"].get(d, segs[0][0] if segs else 0)
            for seq, data in segs:
                delta = (seq - nxt) & 0xFFFFFFFF
                if delta >= 0x80000000:  # overlap / retransmission
                    skip = (nxt - seq) & 0xFFFFFFFF
                    data = data[skip:]
                elif delta:
                    raise SystemExit(f"{path}: {delta} bytes missing in connection {key}")
                buf += data
                nxt = (nxt + len(data)) & 0xFFFFFFFF
            res[d] = bytes(buf)
        out.append(res)
    return out


def line(buf, i):
    j = buf.index(b"\r\n", i)
    return buf[i:j], j + 2


def value(buf, i):
    """Parses one RESP value at i; returns (type, first-element-or-text, end)."""
    t = buf[i:i + 1]
    text, i = line(buf, i + 1)
    if t in (b"+", b"-", b":", b",", b"#", b"_", b"("):
        return t, text, i
    if t in (b"$", b"=", b"!"):
        n = int(text)
        if n < 0:
            return t, None, i
        return t, buf[i:i + n], i + n + 2
    if t in (b"*", b"%", b"~", b">", b"|"):
        n = int(text)
        if n < 0:
            return t, None, i
        n *= 2 if t in (b"%", b"|") else 1
        first = None
        for k in range(n):
            _, v, i = value(buf, i)
            if k == 0:
                first = v
        if t == b"|":  # attribute: the real value follows
            return value(buf, i)
        return t, first, i
    raise ValueError(f"unexpected RESP type {t!r} at {i}")


def count(path, port):
    r = dict(requests=0, replies=0, confirmations=0, pushes=0, errors=0, connections=0)
    for conn in streams(path, port):
        r["connections"] += 1
        c, s = conn["c"], conn["s"]
        i = 0
        subscribed = False
        while i < len(c):
            if c[i:i + 1] == b"*":
                t, first, i = value(c, i)
                if first is not None:
                    r["requests"] += 1
                    if first.lower() in (b"subscribe", b"psubscribe", b"ssubscribe"):
                        subscribed = True
            else:
                j = c.index(b"\n", i)
                if c[i:j].strip():
                    r["requests"] += 1
                    if c[i:j].split()[0].lower() in (b"subscribe", b"psubscribe"):
                        subscribed = True
                i = j + 1
        i = 0
        while i < len(s):
            t, first, i = value(s, i)
            kind = first.lower() if isinstance(first, bytes) else None
            if t == b">" and kind not in SUB:
                r["pushes"] += 1
            elif t == b"*" and subscribed and kind in DATA:
                r["pushes"] += 1
            else:
                r["replies"] += 1
                if kind in SUB and t in (b">", b"*"):
                    r["confirmations"] += 1
                if t in (b"-", b"!"):
                    r["errors"] += 1
    r["transactions"] = r["requests"] + r["pushes"]
    return r


if __name__ == "__main__":
    res = count(sys.argv[1], int(sys.argv[2]))
    if "--json" in sys.argv:
        print(json.dumps(res))
    else:
        print(" ".join(f"{k}={v}" for k, v in res.items()))
