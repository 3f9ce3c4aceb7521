#!/usr/bin/env python3
"""Sends the frames of a classic pcap file out of a network interface (e.g.
the host side of the appliance's mirror TAP), like `tcpreplay -i IFACE`
without pacing. Needs root (a raw AF_PACKET socket).

usage: replay_to_tap.py IFACE FILE.pcap [DELAY_MS]
"""
import socket
import struct
import sys
import time


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file")
    (link,) = struct.unpack(endian + "I", data[20:24])
    if link & 0x0FFFFFFF != 1:
        sys.exit(f"{path}: link type {link}, only Ethernet (1) can be sent on a TAP")
    pos = 24
    while pos + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
        pos += 16
        if pos + caplen > len(data):
            break
        yield data[pos : pos + caplen]
        pos += caplen


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    iface, path = sys.argv[1], sys.argv[2]
    delay = float(sys.argv[3]) / 1000 if len(sys.argv) == 4 else 0.0005
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    n = 0
    for frame in frames(path):
        s.send(frame)
        n += 1
        time.sleep(delay)
    print(f"sent {n} frames to {iface}")


if __name__ == "__main__":
    main()
