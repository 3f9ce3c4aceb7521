#!/usr/bin/env python3
"""Memcache test clients used by record-memcache.sh (text and binary, TCP and UDP).

Every scenario talks to a real memcached, checks each reply, and prints one
summary line:  COUNTS requests=N replies=M  where N is the number of
requests sent (each one is a transaction for an analyzer) and M the number
of them the server answered (noreply / quiet misses / quit get no reply).

Usage: client.py SCENARIO HOST PORT
"""
import socket
import struct
import sys

HOST, PORT = sys.argv[2], int(sys.argv[3])
SCENARIO = sys.argv[1]
counts = {"requests": 0, "replies": 0}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# ---------------------------------------------------------------- text / TCP
class Text:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                fail("connection closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def block(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(65536)
        b, self.buf = self.buf[:n], self.buf[n + 2:]
        return b

    def cmd(self, text, data=None, expect=None, reply=True):
        msg = text.encode() + b"\r\n"
        if data is not None:
            msg += data + b"\r\n"
        self.s.sendall(msg)
        counts["requests"] += 1
        if not reply:
            return None
        counts["replies"] += 1
        first = self.line()
        if first.startswith(b"VALUE") or first.startswith(b"STAT"):
            lines = []
            while first != b"END":
                if first.startswith(b"VALUE"):
                    n = int(first.split()[3])
                    lines.append((first, self.block(n)))
                else:
                    lines.append((first, None))
                first = self.line()
            out = lines
        else:
            out = first
        if expect is not None and out != expect and not (callable(expect) and expect(out)):
            fail(f"{text!r}: got {out!r}, want {expect!r}")
        print(f"{text[:60]!r} -> {str(out)[:80]}")
        return out


def text_tcp():
    c = Text()
    c.cmd("flush_all", expect=b"OK")
    c.cmd("set k1 0 0 100", b"a" * 100, b"STORED")
    c.cmd("set k2 7 0 20", b"b" * 20, b"STORED")
    c.cmd("set k3 0 3600 10", b"c" * 10, b"STORED")
    c.cmd("get x k1 k2 k3 y", expect=lambda o: [l[0].split()[1] for l in o] == [b"k1", b"k2", b"k3"])
    c.cmd("get nothing", expect=b"END")
    got = c.cmd("gets k1", expect=lambda o: len(o) == 1)
    cas = int(got[0][0].split()[4])
    c.cmd(f"cas k1 0 0 5 {cas}", b"AAAAA", b"STORED")
    c.cmd(f"cas k1 0 0 5 {cas}", b"BBBBB", b"EXISTS")
    c.cmd("add k1 0 0 1", b"z", b"NOT_STORED")
    c.cmd("add k4 0 0 1", b"z", b"STORED")
    c.cmd("replace k4 0 0 2", b"zz", b"STORED")
    c.cmd("replace nokey 0 0 2", b"zz", b"NOT_STORED")
    c.cmd("append k4 0 0 3", b"app", b"STORED")
    c.cmd("prepend k4 0 0 3", b"pre", b"STORED")
    c.cmd("set cnt 0 0 2", b"10", b"STORED")
    c.cmd("incr cnt 5", expect=b"15")
    c.cmd("decr cnt 3", expect=b"12")
    c.cmd("incr nokey 1", expect=b"NOT_FOUND")
    c.cmd("incr k1 1", expect=lambda o: o.startswith(b"CLIENT_ERROR"))
    c.cmd("touch k2 100", expect=b"TOUCHED")
    c.cmd("touch nokey 100", expect=b"NOT_FOUND")
    c.cmd("delete k3", expect=b"DELETED")
    c.cmd("delete k3", expect=b"NOT_FOUND")
    c.cmd("version", expect=lambda o: o.startswith(b"VERSION "))
    c.cmd("verbosity 1", expect=b"OK")
    c.cmd("stats", expect=lambda o: len(o) > 10)
    c.cmd("stats slabs", expect=lambda o: len(o) > 1)
    c.cmd("bogus_command", expect=b"ERROR")
    # noreply variants: no reply at all; a get afterwards proves they ran.
    c.cmd("set nr1 0 0 3 noreply", b"xyz", reply=False)
    c.cmd("add nr2 0 0 3 noreply", b"xyz", reply=False)
    c.cmd("append nr1 0 0 1 noreply", b"!", reply=False)
    c.cmd("incr cnt 1 noreply", reply=False)
    c.cmd("touch nr1 50 noreply", reply=False)
    c.cmd("delete nr2 noreply", reply=False)
    c.cmd("get nr1 nr2 cnt", expect=lambda o: [l[1] for l in o] == [b"xyz!", b"13"])
    c.cmd("flush_all 0", expect=b"OK")
    c.cmd("flush_all noreply", reply=False)
    c.cmd("quit", reply=False)
    c.s.recv(10)  # the server closes
    c.s.close()


def text_many_keys():
    """A get naming 60 keys (a 1.4 KB request line) with 2 KB values: the
    reply spans many segments and the key list exceeds what is kept."""
    c = Text()
    keys = [f"many_key_{i:03d}" for i in range(60)]
    for k in keys[:30]:
        c.cmd(f"set {k} 0 0 2048", (k.encode() * 200)[:2048], b"STORED")
    c.cmd("get " + " ".join(keys), expect=lambda o: len(o) == 30)
    c.cmd("gets " + " ".join(keys[:5]), expect=lambda o: len(o) == 5)
    c.cmd("quit", reply=False)
    c.s.recv(10)
    c.s.close()


# -------------------------------------------------------------- binary / TCP
def bin_req(op, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                       len(extras) + len(key) + len(value), opaque, cas) + extras + key + value


class Bin:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.opaque = 0

    def read(self):
        while len(self.buf) < 24:
            d = self.s.recv(65536)
            if not d:
                fail("closed")
            self.buf += d
        magic, op, kl, el, _, status, body, opaque, cas = struct.unpack(">BBHBBHIIQ", self.buf[:24])
        while len(self.buf) < 24 + body:
            self.buf += self.s.recv(65536)
        msg, self.buf = self.buf[:24 + body], self.buf[24 + body:]
        return op, status, opaque, msg[24 + el:24 + el + kl], msg[24 + el + kl:]

    def send(self, op, key=b"", extras=b"", value=b"", cas=0):
        self.opaque += 1
        self.s.sendall(bin_req(op, key, extras, value, self.opaque, cas))
        counts["requests"] += 1
        return self.opaque

    def call(self, op, key=b"", extras=b"", value=b"", status=0, cas=0):
        o = self.send(op, key, extras, value, cas)
        r = self.read()
        counts["replies"] += 1
        if r[0] != op or r[2] != o or r[1] != status:
            fail(f"op {op:#x} key {key!r}: got {r[:3]}, want status {status}")
        print(f"op {op:#04x} {key!r} -> status {r[1]} value {r[4][:40]!r}")
        return r


def store_extras(flags=0, exp=0):
    return struct.pack(">II", flags, exp)


def counter_extras(delta, initial=0, exp=0):
    return struct.pack(">QQI", delta, initial, exp)


def binary_tcp():
    c = Bin()
    c.call(0x08, extras=struct.pack(">I", 0))                        # flush
    c.call(0x01, b"bk1", store_extras(3), b"v" * 100)                # set
    c.call(0x01, b"bk2", store_extras(), b"w" * 20)
    c.call(0x02, b"bk1", store_extras(), b"x", status=2)             # add: exists
    c.call(0x03, b"bk2", store_extras(), b"y" * 5)                   # replace
    c.call(0x03, b"nokey", store_extras(), b"y", status=1)           # replace: not found
    c.call(0x0e, b"bk2", value=b"-app")                              # append
    c.call(0x0f, b"bk2", value=b"pre-")                              # prepend
    c.call(0x00, b"bk1")                                             # get
    c.call(0x0c, b"bk2")                                             # getk
    c.call(0x00, b"nokey", status=1)                                 # get miss
    c.call(0x05, b"bcnt", counter_extras(5, 100))                    # incr (creates)
    c.call(0x05, b"bcnt", counter_extras(7))
    c.call(0x06, b"bcnt", counter_extras(2))                         # decr
    c.call(0x1c, b"bk1", struct.pack(">I", 100))                     # touch
    c.call(0x04, b"bk1")                                             # delete
    c.call(0x04, b"bk1", status=1)                                   # delete miss
    c.call(0x0b)                                                     # version
    # quiet multi-get: getkq x5 (two hits), then noop
    for k in [b"qx", b"bk2", b"qy", b"bcnt", b"qz"]:
        c.send(0x0d, k)
    c.send(0x0a)
    hits = 0
    while True:
        r = c.read()
        counts["replies"] += 1
        if r[0] == 0x0a:
            break
        hits += 1
    if hits != 2:
        fail(f"getkq hits {hits}")
    print("getkq x5 + noop -> 2 hits + noop")
    # quiet stores: setq x3 + a failing addq, then noop
    for k in [b"s1", b"s2", b"s3"]:
        c.send(0x11, k, store_extras(), b"quiet")
    c.send(0x12, b"s1", store_extras(), b"dup")                      # addq fails -> reply
    c.send(0x0a)
    r = c.read(); counts["replies"] += 1
    if r[0] != 0x12 or r[1] != 2:
        fail(f"addq: {r[:3]}")
    r = c.read(); counts["replies"] += 1
    if r[0] != 0x0a:
        fail("noop")
    print("setq x3 + addq(fail) + noop -> addq error + noop")
    # stats: many Stat replies ending with an empty one (one transaction)
    o = c.send(0x10)
    n = 0
    while True:
        r = c.read()
        if r[2] != o:
            fail("stat opaque")
        if not r[3]:
            break
        n += 1
    counts["replies"] += 1
    print(f"stat -> {n} entries")
    c.call(0x0a)                                                     # noop
    c.send(0x17)                                                     # quitq: no reply
    c.s.recv(10)
    c.s.close()


# ----------------------------------------------------------------------- UDP
class Udp:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect((HOST, PORT))
        self.s.settimeout(2)
        self.rid = 0

    def send(self, payload):
        self.rid += 1
        self.s.send(struct.pack(">HHHH", self.rid, 0, 1, 0) + payload)
        counts["requests"] += 1
        return self.rid

    def reply(self, rid):
        """Collects the reply to `rid`. memcached may send a multi-key reply
        as several UDP messages with the same request id (each one numbered
        from 0): read until the reply is complete."""
        data, datagrams = b"", 0
        while True:
            parts, total = {}, None
            while total is None or len(parts) < total:
                d = self.s.recv(65536)
                r, seq, tot, _ = struct.unpack(">HHHH", d[:8])
                if r != rid:
                    fail(f"udp reply for {r}, want {rid}")
                if tot == 0:
                    # memcached 1.6 sends an empty message (0 datagrams) for
                    # each missed key of a multi-key get over UDP.
                    datagrams += 1
                    continue
                parts[seq] = d[8:]
                total = tot
            data += b"".join(parts[i] for i in range(total))
            datagrams += total
            text_multi = data[:5] in (b"VALUE", b"STAT ")
            if data[:1] == b"\x81" or not text_multi or data.endswith(b"END\r\n"):
                break
        counts["replies"] += 1
        return data, datagrams

    def call(self, payload, check=None):
        rid = self.send(payload)
        data, n = self.reply(rid)
        if check and not check(data):
            fail(f"udp {payload[:40]!r}: {data[:80]!r}")
        print(f"udp {payload[:40]!r} -> {n} datagram(s) {data[:50]!r}")
        return data


def text_udp():
    c = Udp()
    c.call(b"set u1 0 0 5\r\nhello\r\n", lambda d: d == b"STORED\r\n")
    c.call(b"set big 0 0 3000\r\n" + b"B" * 3000 + b"\r\n", lambda d: d == b"STORED\r\n")
    c.call(b"get u1 nokey big\r\n", lambda d: d.endswith(b"END\r\n") and len(d) > 3000)
    c.call(b"incr nokey 1\r\n", lambda d: d == b"NOT_FOUND\r\n")
    c.call(b"set n 0 0 1\r\n5\r\n", lambda d: d == b"STORED\r\n")
    c.call(b"incr n 10\r\n", lambda d: d.strip() == b"15")
    c.send(b"set u2 0 0 3 noreply\r\nabc\r\n")
    c.send(b"delete u1 noreply\r\n")
    c.call(b"get u1 u2\r\n", lambda d: d == b"VALUE u2 0 3\r\nabc\r\nEND\r\n")
    c.call(b"version\r\n", lambda d: d.startswith(b"VERSION"))
    c.call(b"stats\r\n", lambda d: d.endswith(b"END\r\n") and d.count(b"STAT ") > 20)


def binary_udp():
    c = Udp()
    c.call(bin_req(0x01, b"ub1", store_extras(1), b"q" * 50, opaque=1), lambda d: d[1] == 0x01 and d[6:8] == b"\0\0")
    c.call(bin_req(0x0c, b"ub1", opaque=2), lambda d: d[1] == 0x0c and d.endswith(b"q" * 50))
    c.call(bin_req(0x00, b"nokey", opaque=3), lambda d: d[6:8] == b"\0\x01")
    c.call(bin_req(0x05, b"ucnt", counter_extras(3, 10), opaque=4), lambda d: d[1] == 0x05)
    rid = c.send(bin_req(0x11, b"ub2", store_extras(), b"quiet", opaque=5))  # setq: quiet
    # memcached answers a quiet command over UDP with an empty message (a
    # header announcing 0 datagrams): that is not a reply.
    c.s.settimeout(0.3)
    try:
        while True:
            d = c.s.recv(65536)
            r, seq, tot, _ = struct.unpack(">HHHH", d[:8])
            print(f"after setq: id {r} seq {seq} total {tot} payload {d[8:40]!r}")
            if r != rid or tot != 0:
                fail("unexpected reply to a quiet command")
    except socket.timeout:
        pass
    c.s.settimeout(2)
    c.call(bin_req(0x0b, opaque=6), lambda d: d[1] == 0x0b)
    c.call(bin_req(0x0a, opaque=7), lambda d: d[1] == 0x0a)


{"text_tcp": text_tcp, "text_many_keys": text_many_keys, "binary_tcp": binary_tcp,
 "text_udp": text_udp, "binary_udp": binary_udp}[SCENARIO]()
print(f"COUNTS requests={counts['requests']} replies={counts['replies']}")
