#!/usr/bin/env python3
"""dns-load.py — send N DNS queries over UDP with a bounded number in flight.

Used by bench/gen-dns.sh to make benchmark traffic; standard library only.

Usage: dns-load.py SERVER PORT N [--inflight W] [--sockets S] [--timeout T]

Queries cycle through a fixed mix of names and types (see MIX). Up to W
queries are outstanding at once, spread over S UDP sockets (S client ports,
hence S flows). Each query is sent once, never retried; a query with no
matching response within T seconds counts as unanswered. A response matches
when it comes from the server, its ID is outstanding on that socket, its QR
bit is set and its question section equals the query's. A matching response
that arrives after its query timed out, but before the run ends, counts as
answered (and as late).

Prints one line of key=value pairs on stdout:
  sent answered unanswered late unmatched rcodes (NAME:COUNT,...) seconds
and exits 1 if an error prevented sending all N queries.

Limits: IDs are allocated sequentially per socket and an ID is never reused
while outstanding; no EDNS, no TCP fallback (answers of the mix are small).
"""

import argparse
import select
import socket
import struct
import sys
import time

# (name, qtype): A 40 %, AAAA 20 %, MX 10 %, TXT 10 %, NXDOMAIN 20 %.
MIX = [
    ("www.example.test", 1),
    ("mail.example.test", 1),
    ("www.example.test", 28),
    ("example.test", 15),
    ("api.example.test", 1),
    ("nothere.example.test", 1),
    ("www.example.test", 1),
    ("api.example.test", 28),
    ("example.test", 16),
    ("missing.example.test", 28),
]
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def question(name, qtype):
    """Wire form of one question (class IN)."""
    out = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    return out + b"\x00" + struct.pack("!HH", qtype, 1)


QUESTIONS = [question(n, t) for n, t in MIX]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("server")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--sockets", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args()

    socks = []
    for _ in range(args.sockets):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect((args.server, args.port))
        s.setblocking(False)
        socks.append(s)
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)

    outstanding = [dict() for _ in socks]   # id -> (deadline, question index)
    expired = [dict() for _ in socks]       # id -> question index, timed out
    next_id = [0] * len(socks)
    inflight = 0
    sent = answered = late = unanswered = unmatched = 0
    rcodes = {}
    qi = 0
    start = time.monotonic()

    while sent < args.n or inflight:
        # Top up to the concurrency limit, round-robin over the sockets.
        while sent < args.n and inflight < args.inflight:
            si = sent % len(socks)
            qid = next_id[si]
            while qid in outstanding[si] or qid in expired[si]:
                qid = (qid + 1) & 0xFFFF
            next_id[si] = (qid + 1) & 0xFFFF
            q = qi % len(QUESTIONS)
            qi += 1
            try:
                socks[si].send(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + QUESTIONS[q])
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                # An ICMP port unreachable for an earlier query, reported
                # once on this socket; this query was not sent: send it again.
                qi -= 1
                continue
            outstanding[si][qid] = (time.monotonic() + args.timeout, q)
            sent += 1
            inflight += 1

        now = time.monotonic()
        soonest = min((d for o in outstanding for d, _ in o.values()), default=now + 0.1)
        for fd, _ in poller.poll(max(0, int((soonest - now) * 1000) + 1)):
            si = by_fd[fd]
            while True:
                try:
                    msg = socks[si].recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                if len(msg) < 12:
                    unmatched += 1
                    continue
                qid, flags, qd = struct.unpack("!HHH", msg[:6])
                entry = outstanding[si].get(qid)
                q = entry[1] if entry else expired[si].get(qid)
                want = QUESTIONS[q] if q is not None else None
                if want is None or not flags & 0x8000 or qd != 1 or msg[12:12 + len(want)] != want:
                    unmatched += 1
                    continue
                if entry:
                    del outstanding[si][qid]
                    inflight -= 1
                else:
                    del expired[si][qid]
                    unanswered -= 1
                    late += 1
                answered += 1
                name = RCODES.get(flags & 0xF, str(flags & 0xF))
                rcodes[name] = rcodes.get(name, 0) + 1

        now = time.monotonic()
        for si, o in enumerate(outstanding):
            for qid in [k for k, (d, _) in o.items() if d <= now]:
                expired[si][qid] = o.pop(qid)[1]
                inflight -= 1
                unanswered += 1

    seconds = time.monotonic() - start
    codes = ",".join(f"{k}:{v}" for k, v in sorted(rcodes.items()))
    print(f"sent={sent} answered={answered} unanswered={unanswered} late={late} "
          f"unmatched={unmatched} rcodes={codes} seconds={seconds:.2f}")
    return 0 if sent == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
