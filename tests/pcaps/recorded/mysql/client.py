#!/usr/bin/env python3
"""A minimal MySQL/MariaDB client over a raw socket, for record-mysql.sh.

It exists because the usual Python clients do not use server-side prepared
statements: this one sends COM_STMT_PREPARE / COM_STMT_EXECUTE (binary
protocol) exactly as scripted, with or without CLIENT_DEPRECATE_EOF, and
also pipelines a prepare and an execute in one write. It prints one line per
command with what came back, so the recording's counts can be checked.

Usage: mysql_client.py HOST PORT USER DB
"""
import socket
import struct
import sys

PROTOCOL_41 = 0x200
SECURE_CONNECTION = 0x8000
PLUGIN_AUTH = 0x80000
CONNECT_WITH_DB = 0x8
LONG_PASSWORD = 0x1
TRANSACTIONS = 0x2000
MULTI_RESULTS = 0x20000
PS_MULTI_RESULTS = 0x40000
DEPRECATE_EOF = 0x1000000

COUNTS = {}


def count(name):
    COUNTS[name] = COUNTS.get(name, 0) + 1


class Conn:
    def __init__(self, host, port, user, db, deprecate_eof):
        self.s = socket.create_connection((host, port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = not deprecate_eof
        seq, greeting = self.read()
        assert greeting[0] == 10, greeting
        caps = (PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | CONNECT_WITH_DB | LONG_PASSWORD
                | TRANSACTIONS | MULTI_RESULTS | PS_MULTI_RESULTS)
        if deprecate_eof:
            caps |= DEPRECATE_EOF
        login = (struct.pack("<IIB", caps, 1 << 24, 33) + b"\0" * 23 + user.encode() + b"\0"
                 + b"\0"  # empty auth response (empty password)
                 + db.encode() + b"\0" + b"mysql_native_password\0")
        self.send(seq + 1, login)
        while True:
            seq, p = self.read()
            if p[0] == 0x00:
                break
            if p[0] == 0xff:
                raise SystemExit("login failed: %r" % p)
            # Auth switch / more data: an empty password answers with nothing.
            self.send(seq + 1, b"")

    # ---- framing ----
    def send(self, seq, payload):
        self.s.sendall(self.frame(seq, payload))

    @staticmethod
    def frame(seq, payload):
        return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xff]) + payload

    def read(self):
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:3], "little"):
            chunk = self.s.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "little")
        seq, p = self.buf[3], self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return seq, p

    # ---- responses ----
    def result(self):
        """OK, ERR, or result set(s); returns a short description."""
        out = []
        while True:
            _, p = self.read()
            if p[0] == 0x00:
                status = self.ok_status(p)
                out.append("OK")
            elif p[0] == 0xff:
                out.append("ERR %d" % struct.unpack("<H", p[1:3])[0])
                return " ".join(out)
            else:
                cols = p[0]
                for _ in range(cols):
                    self.read()
                if self.eof:
                    self.read()
                rows = 0
                while True:
                    _, p = self.read()
                    if p[0] == 0xfe and len(p) < 0xffffff:
                        status = self.ok_status(p) if not self.eof else struct.unpack("<H", p[3:5])[0]
                        break
                    if p[0] == 0xff:
                        out.append("ERR")
                        return " ".join(out)
                    rows += 1
                out.append("%d rows" % rows)
            if not status & 0x0008:
                return " ".join(out)

    @staticmethod
    def lenenc(p, i):
        b = p[i]
        if b < 0xfb:
            return b, i + 1
        n = {0xfc: 2, 0xfd: 3, 0xfe: 8}[b]
        return int.from_bytes(p[i + 1:i + 1 + n], "little"), i + 1 + n

    def ok_status(self, p):
        _, i = self.lenenc(p, 1)
        _, i = self.lenenc(p, i)
        return struct.unpack("<H", p[i:i + 2])[0]

    def prepare_response(self):
        _, p = self.read()
        if p[0] == 0xff:
            return None, "ERR %d" % struct.unpack("<H", p[1:3])[0]
        stmt, cols, params = struct.unpack("<IHH", p[1:9])
        for n in (params, cols):
            for _ in range(n):
                self.read()
            if n and self.eof:
                self.read()
        return stmt, "stmt %d: %d params, %d columns" % (stmt, params, cols)

    # ---- commands ----
    def query(self, sql):
        count("COM_QUERY")
        self.send(0, b"\x03" + sql.encode())
        print("query %r -> %s" % (sql, self.result()))

    def prepare(self, sql):
        count("COM_STMT_PREPARE")
        self.send(0, b"\x16" + sql.encode())
        stmt, desc = self.prepare_response()
        print("prepare %r -> %s" % (sql, desc))
        return stmt

    @staticmethod
    def execute_payload(stmt, params, bind):
        body = b"\x17" + struct.pack("<IBI", stmt, 0, 1)
        if params:
            nulls = bytearray((len(params) + 7) // 8)
            types, values = b"", b""
            for i, (t, v) in enumerate(params):
                types += bytes([t, 0])
                if v is None:
                    nulls[i // 8] |= 1 << (i % 8)
                elif t == 0x08:
                    values += struct.pack("<q", v)
                elif t == 0x0c:
                    values += bytes([7]) + struct.pack("<HBBBBB", *v)
                else:
                    v = v.encode()
                    values += bytes([len(v)]) + v
            body += bytes(nulls) + (b"\x01" + types if bind else b"\x00") + values
        return body

    def execute(self, stmt, params, bind=True):
        count("COM_STMT_EXECUTE")
        self.send(0, self.execute_payload(stmt, params, bind))
        print("execute %d %r -> %s" % (stmt, [v for _, v in params], self.result()))

    def close_stmt(self, stmt):
        count("COM_STMT_CLOSE")
        self.send(0, b"\x19" + struct.pack("<I", stmt))
        print("close %d" % stmt)

    def ping(self):
        count("COM_PING")
        self.send(0, b"\x0e")
        print("ping -> %s" % self.result())

    def pipelined_prepare_execute(self, sql, params):
        """Prepare and execute (MariaDB: statement id -1 = the one just
        prepared) sent in one write, then both responses read."""
        count("COM_STMT_PREPARE")
        count("COM_STMT_EXECUTE")
        data = self.frame(0, b"\x16" + sql.encode()) + self.frame(0, self.execute_payload(0xffffffff, params, True))
        self.s.sendall(data)
        stmt, desc = self.prepare_response()
        print("pipelined prepare %r -> %s" % (sql, desc))
        print("pipelined execute -1 -> %s" % self.result())
        return stmt

    def quit(self):
        count("COM_QUIT")
        self.send(0, b"\x01")
        self.s.close()


def session(host, port, user, db, deprecate_eof):
    count("connections")
    c = Conn(host, port, user, db, deprecate_eof)
    print("== connection, CLIENT_DEPRECATE_EOF=%s" % deprecate_eof)
    s1 = c.prepare("SELECT id, name, score, created FROM people WHERE name = ? OR id > ?")
    c.execute(s1, [(0xfd, "alice"), (0x08, 2)])
    c.execute(s1, [(0xfd, "bob"), (0x08, 100)], bind=False)
    s2 = c.prepare("INSERT INTO people (name, score, created) VALUES (?, ?, ?)")
    c.execute(s2, [(0xfd, "carol"), (0x08, None), (0x0c, (2024, 1, 2, 3, 4, 5))])
    bad = c.prepare("SELECT nosuchcolumn FROM people")
    assert bad is None
    c.close_stmt(s1)
    c.close_stmt(s2)
    c.execute(999, [])
    c.ping()
    s3 = c.pipelined_prepare_execute("SELECT COUNT(*) FROM people WHERE score > ?", [(0x08, 10)])
    c.close_stmt(s3)
    c.query("DELETE FROM people WHERE name = 'carol'")
    c.quit()


if __name__ == "__main__":
    host, port, user, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    session(host, port, user, db, False)
    session(host, port, user, db, True)
    print("counts:", " ".join("%s=%d" % kv for kv in sorted(COUNTS.items())))
