#!/usr/bin/env python3
"""A small MongoDB wire-protocol server and clients, to record test captures.

No MongoDB server is packaged in the registries this project can use, so
record-mongodb.sh records the traffic of:

  * the real MongoDB Python driver (pymongo, from PyPI) talking to the
    in-memory server below, which speaks enough of the protocol to answer it
    (handshake, CRUD commands, cursors, errors, endSessions, compression);
  * hand-built clients that send byte-exact wire messages for what drivers
    no longer send: the legacy opcodes, OP_MSG with a CRC-32C checksum,
    pipelining answered out of order, exhaust cursors, OP_COMPRESSED,
    unknown opcodes, a header cut across TCP segments.

Every message the server reads or writes is logged (one JSON object per
line). `summary` turns that log into the MANIFEST.tsv row of the capture:
the exact counts the tests assert.

Usage:
  mongo_wire.py serve PORT LOG          run the server (until killed)
  mongo_wire.py client NAME PORT        run a client scenario
  mongo_wire.py summary FILE PORT LOG   print the manifest row
"""

import datetime
import json
import socket
import socketserver
import struct
import sys
import threading
import time
import zlib

import bson
from bson import SON

OP_REPLY, OP_MSG_LEGACY, OP_UPDATE, OP_INSERT = 1, 1000, 2001, 2002
OP_QUERY, OP_GET_MORE, OP_DELETE, OP_KILL_CURSORS = 2004, 2005, 2006, 2007
OP_COMPRESSED, OP_MSG = 2012, 2013
KNOWN = {OP_REPLY, OP_MSG_LEGACY, OP_UPDATE, OP_INSERT, OP_QUERY, OP_GET_MORE,
         OP_DELETE, OP_KILL_CURSORS, OP_COMPRESSED, OP_MSG}
CHECKSUM, MORE_TO_COME, EXHAUST_ALLOWED = 1, 2, 1 << 16
LEGACY_NAMES = {OP_UPDATE: "update", OP_INSERT: "insert", OP_GET_MORE: "getMore",
                OP_DELETE: "delete", OP_KILL_CURSORS: "killCursors", OP_MSG_LEGACY: "msg"}


# ---------------------------------------------------------------- CRC-32C
def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------- messages
def message(request_id, response_to, opcode, body):
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, opcode) + body


def op_msg(request_id, response_to, body, seqs=(), flags=0, checksum=False):
    b = struct.pack("<I", flags | (CHECKSUM if checksum else 0)) + b"\x00" + bson.encode(body)
    for name, docs in seqs:
        payload = name.encode() + b"\x00" + b"".join(bson.encode(d) for d in docs)
        b += b"\x01" + struct.pack("<i", 4 + len(payload)) + payload
    if checksum:
        head = struct.pack("<iiii", 16 + len(b) + 4, request_id, response_to, OP_MSG)
        b += struct.pack("<I", crc32c(head + b))
    return message(request_id, response_to, OP_MSG, b)


def op_reply(request_id, response_to, docs, cursor_id=0, flags=0, starting_from=0):
    b = struct.pack("<iqii", flags, cursor_id, starting_from, len(docs)) + b"".join(bson.encode(d) for d in docs)
    return message(request_id, response_to, OP_REPLY, b)


def op_query(request_id, fcn, query, skip=0, ret=0, fields=None, flags=0):
    b = struct.pack("<i", flags) + fcn.encode() + b"\x00" + struct.pack("<ii", skip, ret) + bson.encode(query)
    if fields is not None:
        b += bson.encode(fields)
    return message(request_id, 0, OP_QUERY, b)


def compress(msg, compressor):
    """Wraps a whole message in OP_COMPRESSED (0 noop, 2 zlib)."""
    length, rid, rto, op = struct.unpack("<iiii", msg[:16])
    body = msg[16:]
    data = body if compressor == 0 else zlib.compress(body)
    b = struct.pack("<iiB", op, len(body), compressor) + data
    return message(rid, rto, OP_COMPRESSED, b)


def parse_op_msg(body):
    flags = struct.unpack("<I", body[:4])[0]
    end = len(body) - (4 if flags & CHECKSUM else 0)
    i, doc, seqs = 4, None, []
    while i < end:
        kind = body[i]
        i += 1
        if kind == 0:
            n = struct.unpack("<i", body[i:i + 4])[0]
            doc = bson.decode(body[i:i + n], codec_options=bson.CodecOptions(document_class=SON))
            i += n
        else:
            size = struct.unpack("<i", body[i:i + 4])[0]
            j = body.index(b"\x00", i + 4)
            name = body[i + 4:j].decode()
            docs = bson.decode_all(body[j + 1:i + size], codec_options=bson.CodecOptions(document_class=SON))
            seqs.append((name, docs))
            i += size
    return flags, doc, seqs


def reply_error(op, body):
    """True when a reply reports a failure (what a decoder can tell)."""
    if op == OP_MSG:
        doc = parse_op_msg(body)[1] or {}
    elif op == OP_REPLY:
        if struct.unpack("<i", body[:4])[0] & 3:
            return True
        docs = bson.decode_all(body[20:])
        doc = docs[0] if docs else {}
    else:
        return False
    return doc.get("ok", 1) == 0 or "writeErrors" in doc or "$err" in doc


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_message(sock):
    head = read_exact(sock, 16)
    if head is None:
        return None
    length, rid, rto, op = struct.unpack("<iiii", head)
    body = read_exact(sock, length - 16)
    if body is None:
        return None
    return rid, rto, op, body


# ---------------------------------------------------------------- server
class Store:
    """Collections kept in memory, shared by every connection."""

    def __init__(self):
        self.lock = threading.Lock()
        self.colls = {}
        self.cursors = {}
        self.next_cursor = 7000

    def coll(self, ns):
        return self.colls.setdefault(ns, [])


STORE = Store()
LOG_LOCK = threading.Lock()
LOG_FILE = None
CONN_IDS = iter(range(1, 1_000_000))


def log(entry):
    with LOG_LOCK:
        LOG_FILE.write(json.dumps(entry) + "\n")
        LOG_FILE.flush()


def command_name(doc):
    return next(iter(doc.keys())) if doc else ""


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = next(CONN_IDS)
        self.next_id = 500

    def send(self, msg, command="", compressor=None):
        length, rid, rto, op = struct.unpack("<iiii", msg[:16])
        flags = struct.unpack("<I", msg[16:20])[0] if op == OP_MSG else 0
        error = reply_error(op, msg[16:])
        if compressor is not None:
            msg = compress(msg, compressor)
        self.request.sendall(msg)
        log({"conn": self.conn, "dir": "s2c", "opcode": OP_COMPRESSED if compressor is not None else op,
             "inner": op, "request_id": rid, "response_to": rto, "flags": flags, "command": command,
             "compressor": compressor, "error": error})

    def rid(self):
        self.next_id += 1
        return self.next_id

    def handle(self):
        while True:
            m = read_message(self.request)
            if m is None:
                return
            rid, rto, op, body = m
            compressor = None
            inner = op
            if op == OP_COMPRESSED:
                inner, size, compressor = struct.unpack("<iiB", body[:9])
                body = body[9:] if compressor == 0 else zlib.decompress(body[9:])
            entry = {"conn": self.conn, "dir": "c2s", "opcode": op, "inner": inner, "request_id": rid,
                     "response_to": rto, "flags": 0, "command": "", "compressor": compressor}
            if inner not in KNOWN:
                log(entry)  # a real server would close; this one ignores it
                continue
            if inner == OP_MSG:
                flags, doc, seqs = parse_op_msg(body)
                entry["flags"] = flags
                entry["command"] = command_name(doc)
                log(entry)
                reply = self.command(doc, seqs)
                if flags & MORE_TO_COME:
                    continue
                if doc.get("exhaustDemo") and flags & EXHAUST_ALLOWED:
                    # Stream the reply: several messages with moreToCome,
                    # each answering the previous one.
                    prev = rid
                    for k in range(3):
                        nid = self.rid()
                        r = op_msg(nid, prev, SON([("cursor", SON([("nextBatch", [{"k": k}]), ("id", 42 if k < 2 else 0), ("ns", "demo.c")])), ("ok", 1.0)]), flags=MORE_TO_COME if k < 2 else 0)
                        self.send(r, entry["command"], compressor)
                        prev = nid
                    continue
                self.send(op_msg(self.rid(), rid, reply), entry["command"], compressor)
            elif inner == OP_QUERY:
                flags = struct.unpack("<i", body[:4])[0]
                j = body.index(b"\x00", 4)
                fcn = body[4:j].decode()
                skip, ret = struct.unpack("<ii", body[j + 1:j + 9])
                docs = bson.decode_all(body[j + 9:], codec_options=bson.CodecOptions(document_class=SON))
                query = docs[0]
                entry["command"] = command_name(query) if fcn.endswith(".$cmd") else "find"
                log(entry)
                if fcn.endswith(".$cmd"):
                    self.send(op_reply(self.rid(), rid, [self.command(SON(list(query.items()) + [("$db", fcn[:-5])]), [])]), entry["command"])
                else:
                    self.legacy_find(rid, fcn, query, skip, ret)
            elif inner == OP_GET_MORE:
                j = body.index(b"\x00", 4)
                ret, cid = struct.unpack("<iq", body[j + 1:j + 13])
                entry["command"] = "getMore"
                log(entry)
                with STORE.lock:
                    rest = STORE.cursors.pop(cid, [])
                batch, rest = rest[:ret or len(rest)], rest[ret or len(rest):]
                if rest:
                    with STORE.lock:
                        STORE.cursors[cid] = rest
                self.send(op_reply(self.rid(), rid, batch, cursor_id=cid if rest else 0), "getMore")
            else:
                entry["command"] = LEGACY_NAMES.get(inner, "")
                log(entry)
                if inner == OP_INSERT:
                    j = body.index(b"\x00", 4)
                    with STORE.lock:
                        STORE.coll(body[4:j].decode()).extend(bson.decode_all(body[j + 1:]))

    def legacy_find(self, rid, fcn, query, skip, ret):
        if "$bad" in query:
            err = SON([("$err", "unknown operator: $bad"), ("code", 2)])
            self.send(op_reply(self.rid(), rid, [err], flags=2), "find")
            return
        with STORE.lock:
            docs = [d for d in STORE.coll(fcn) if all(d.get(k) == v for k, v in query.items())][skip:]
        n = abs(ret) if ret else len(docs)
        batch, rest = docs[:n], docs[n:]
        cid = 0
        if rest and ret >= 0:
            with STORE.lock:
                STORE.next_cursor += 1
                cid = STORE.next_cursor
                STORE.cursors[cid] = rest
        self.send(op_reply(self.rid(), rid, batch, cursor_id=cid), "find")

    def command(self, doc, seqs):
        name = command_name(doc)
        lname = name.lower()
        db = doc.get("$db", "admin")
        for key, docs in seqs:
            doc[key] = docs
        if lname in ("hello", "ismaster"):
            r = SON([("ismaster", True), ("helloOk", True), ("maxBsonObjectSize", 16777216),
                     ("maxMessageSizeBytes", 48000000), ("maxWriteBatchSize", 100000),
                     ("localTime", datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)),
                     ("logicalSessionTimeoutMinutes", 30), ("connectionId", self.conn),
                     ("minWireVersion", 0), ("maxWireVersion", 17), ("readOnly", False)])
            wanted = doc.get("compression") or []
            if "zlib" in wanted:
                r["compression"] = ["zlib"]
            r["ok"] = 1.0
            return r
        if lname in ("ping", "endsessions", "drop", "createindexes"):
            return SON([("ok", 1.0)])
        if lname == "buildinfo":
            return SON([("version", "6.0.0-tapbeat-mock"), ("versionArray", [6, 0, 0, 0]), ("ok", 1.0)])
        ns = "%s.%s" % (db, doc.get(name))
        if lname == "insert":
            with STORE.lock:
                coll = STORE.coll(ns)
                errors, n = [], 0
                for i, d in enumerate(doc.get("documents", [])):
                    if any(x.get("_id") == d.get("_id") for x in coll):
                        errors.append(SON([("index", i), ("code", 11000),
                                           ("errmsg", "E11000 duplicate key error collection: %s index: _id_ dup key: { _id: %r }" % (ns, d.get("_id")))]))
                        if doc.get("ordered", True):
                            break
                    else:
                        coll.append(d)
                        n += 1
            r = SON([("n", n)])
            if errors:
                r["writeErrors"] = errors
            r["ok"] = 1.0
            return r
        if lname == "find":
            flt = doc.get("filter", {})
            with STORE.lock:
                docs = [d for d in STORE.coll(ns) if all(d.get(k) == v for k, v in flt.items())]
            if doc.get("limit"):
                docs = docs[:abs(doc["limit"])]
            bs = doc.get("batchSize", 101)
            first, rest = docs[:bs], docs[bs:]
            cid = 0
            if rest and not doc.get("singleBatch"):
                with STORE.lock:
                    STORE.next_cursor += 1
                    cid = STORE.next_cursor
                    STORE.cursors[cid] = rest
            return SON([("cursor", SON([("firstBatch", first), ("id", bson.int64.Int64(cid)), ("ns", ns)])), ("ok", 1.0)])
        if lname == "getmore":
            cid = doc["getMore"]
            ns = "%s.%s" % (db, doc.get("collection"))
            bs = doc.get("batchSize", 101)
            with STORE.lock:
                rest = STORE.cursors.pop(cid, [])
                batch, rest = rest[:bs], rest[bs:]
                if rest:
                    STORE.cursors[cid] = rest
            return SON([("cursor", SON([("nextBatch", batch), ("id", bson.int64.Int64(cid if rest else 0)), ("ns", ns)])), ("ok", 1.0)])
        if lname in ("update", "delete"):
            key = "updates" if lname == "update" else "deletes"
            n = 0
            with STORE.lock:
                coll = STORE.coll(ns)
                for u in doc.get(key, []):
                    q = u.get("q", {})
                    hits = [d for d in coll if all(d.get(k) == v for k, v in q.items())]
                    if u.get("limit", 0) == 1 or not u.get("multi", False):
                        hits = hits[:1]
                    for h in hits:
                        n += 1
                        if lname == "delete":
                            coll.remove(h)
                        else:
                            for k, v in u.get("u", {}).get("$set", {}).items():
                                h[k] = v
            r = SON([("n", n)])
            if lname == "update":
                r["nModified"] = n
            r["ok"] = 1.0
            return r
        if lname == "aggregate":
            with STORE.lock:
                n = len(STORE.coll(ns))
            return SON([("cursor", SON([("firstBatch", [SON([("_id", 1), ("n", n)])]), ("id", bson.int64.Int64(0)), ("ns", ns)])), ("ok", 1.0)])
        if lname == "count":
            with STORE.lock:
                n = len(STORE.coll(ns))
            return SON([("n", n), ("ok", 1.0)])
        if lname == "killcursors":
            with STORE.lock:
                for c in doc.get("cursors", []):
                    STORE.cursors.pop(c, None)
            return SON([("cursorsKilled", doc.get("cursors", [])), ("ok", 1.0)])
        return SON([("ok", 0.0), ("errmsg", "no such command: '%s'" % name), ("code", 59), ("codeName", "CommandNotFound")])


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(port, logpath):
    global LOG_FILE
    LOG_FILE = open(logpath, "a")
    Server(("127.0.0.1", port), Handler).serve_forever()


# ---------------------------------------------------------------- clients
def client_pymongo(port, compressors=None):
    """The real driver: CRUD, cursors, errors, an unacknowledged write."""
    import pymongo
    from pymongo.errors import DuplicateKeyError, OperationFailure
    from pymongo.write_concern import WriteConcern

    kw = dict(directConnection=True, heartbeatFrequencyMS=60000, serverSelectionTimeoutMS=5000,
              appname="tapbeat-recorder", maxPoolSize=1)
    if compressors:
        kw["compressors"] = compressors
    c = pymongo.MongoClient("127.0.0.1", port, **kw)
    db = c["shop"]
    db.command("ping")
    db.items.insert_one({"_id": 1, "name": "apple", "qty": 5})
    db.items.insert_many([{"_id": i, "name": "item%d" % i, "qty": i} for i in range(2, 7)])
    try:
        db.items.insert_one({"_id": 1, "name": "again"})
    except DuplicateKeyError as e:
        print("duplicate key:", e.code)
    print("find:", len(list(db.items.find({}, batch_size=2))))
    print("find_one:", db.items.find_one({"_id": 3}))
    print("update:", db.items.update_one({"_id": 2}, {"$set": {"qty": 20}}).modified_count)
    print("delete:", db.items.delete_one({"_id": 6}).deleted_count)
    print("count:", db.items.count_documents({}))
    db.get_collection("log", write_concern=WriteConcern(w=0)).insert_one({"msg": "fire and forget"})
    try:
        db.command("frobnicate")
    except OperationFailure as e:
        print("unknown command:", e.code)
    c.close()


def client_legacy(port):
    """Legacy opcodes, byte-exact (drivers stopped sending them)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rid = iter(range(1, 1000))

    def ask(msg):
        s.sendall(msg)
        return read_message(s)

    def tell(msg):
        s.sendall(msg)
        time.sleep(0.02)

    print(ask(op_query(next(rid), "admin.$cmd", {"isMaster": 1}, ret=-1))[2])
    ins = b"".join(bson.encode({"_id": i, "v": "x" * i}) for i in range(1, 8))
    tell(message(next(rid), 0, OP_INSERT, struct.pack("<i", 0) + b"old.things\x00" + ins))
    r = ask(op_query(next(rid), "old.things", {}, skip=1, ret=3, fields={"v": 1}))
    cid = struct.unpack("<q", r[3][4:12])[0]
    print("find cursor", cid)
    ask(message(next(rid), 0, OP_GET_MORE, struct.pack("<i", 0) + b"old.things\x00" + struct.pack("<iq", 2, cid)))
    tell(message(next(rid), 0, OP_UPDATE, struct.pack("<i", 0) + b"old.things\x00" + struct.pack("<i", 0)
                 + bson.encode({"_id": 2}) + bson.encode({"$set": {"v": "updated"}})))
    tell(message(next(rid), 0, OP_DELETE, struct.pack("<i", 0) + b"old.things\x00" + struct.pack("<i", 0)
                 + bson.encode({"_id": 3})))
    tell(message(next(rid), 0, OP_KILL_CURSORS, struct.pack("<iiq", 0, 1, cid)))
    ask(op_query(next(rid), "old.things", {"$bad": 1}))
    ask(op_query(next(rid), "old.$cmd", {"count": "things"}, ret=-1))
    tell(message(next(rid), 0, OP_MSG_LEGACY, b"hello from a 2010 driver\x00"))
    ask(op_query(next(rid), "admin.$cmd", {"ping": 1}, ret=-1))
    s.close()


def client_op_msg(port):
    """OP_MSG corners: checksum, sequences, moreToCome, pipelining, exhaust,
    compression, unknown opcodes, a header cut across segments, a big reply."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rid = iter(range(100, 1000))

    def ask(msg):
        s.sendall(msg)
        return read_message(s)

    ask(op_msg(next(rid), 0, SON([("hello", 1), ("$db", "admin")])))
    # Checksummed insert with a document sequence.
    docs = [SON([("_id", i), ("name", "n%d" % i), ("tags", ["a", "b"]), ("nested", {"x": {"y": i}})]) for i in range(1, 4)]
    ask(op_msg(next(rid), 0, SON([("insert", "demo"), ("ordered", True), ("$db", "wire")]), seqs=[("documents", docs)], checksum=True))
    # Unacknowledged write: moreToCome, no reply.
    s.sendall(op_msg(next(rid), 0, SON([("insert", "demo"), ("writeConcern", {"w": 0}), ("$db", "wire")]),
                     seqs=[("documents", [{"_id": 99}])], flags=MORE_TO_COME))
    time.sleep(0.02)
    # Three pipelined requests in one write; the server answers in order
    # (a single-threaded handler), the parser pairs by id anyway.
    a, b, c = next(rid), next(rid), next(rid)
    s.sendall(op_msg(a, 0, SON([("ping", 1), ("$db", "admin")]))
              + op_msg(b, 0, SON([("count", "demo"), ("$db", "wire")]))
              + op_msg(c, 0, SON([("find", "demo"), ("filter", {"_id": 2}), ("$db", "wire")])))
    for _ in range(3):
        read_message(s)
    # Exhaust: one request, three replies chained by moreToCome.
    s.sendall(op_msg(next(rid), 0, SON([("getMore", bson.int64.Int64(42)), ("collection", "c"), ("exhaustDemo", True), ("$db", "demo")]), flags=EXHAUST_ALLOWED))
    for _ in range(3):
        read_message(s)
    # Compressed: noop and zlib.
    ask(compress(op_msg(next(rid), 0, SON([("find", "demo"), ("filter", {}), ("$db", "wire")])), 0))
    ask(compress(op_msg(next(rid), 0, SON([("count", "demo"), ("$db", "wire")])), 2))
    # An error reply.
    ask(op_msg(next(rid), 0, SON([("frobnicate", 1), ("$db", "admin")])))
    # Unknown opcode twice (the server ignores them), then normal traffic.
    junk = message(next(rid), 0, 2269, b"\x00" * 12)
    s.sendall(junk)
    time.sleep(0.02)
    s.sendall(message(next(rid), 0, 2269, b"\x00" * 12))
    time.sleep(0.02)
    # A request whose header is cut across three segments.
    m = op_msg(next(rid), 0, SON([("ping", 1), ("$db", "admin")]))
    for piece in (m[:5], m[5:11], m[11:]):
        s.sendall(piece)
        time.sleep(0.05)
    read_message(s)
    # A big reply: 300 documents of ~200 bytes in one batch (many segments).
    big = [SON([("_id", 1000 + i), ("text", "lorem ipsum %04d " % i * 8)]) for i in range(300)]
    for i in range(0, 300, 100):
        ask(op_msg(next(rid), 0, SON([("insert", "big"), ("$db", "wire")]), seqs=[("documents", big[i:i + 100])]))
    r = ask(op_msg(next(rid), 0, SON([("find", "big"), ("batchSize", 1000), ("$db", "wire")])))
    print("big reply bytes:", 16 + len(r[3]))
    s.close()


# ---------------------------------------------------------------- summary
def summary(name, port, logpath):
    """The manifest row: what the client sent and what tapbeat must report."""
    entries = [json.loads(l) for l in open(logpath)]
    c2s = [e for e in entries if e["dir"] == "c2s"]
    s2c = [e for e in entries if e["dir"] == "s2c"]
    conns = sorted({e["conn"] for e in entries})
    unknown_seen, transactions, methods = set(), 0, []
    no_reply = unknown = compressed = 0
    for e in c2s:
        if e["inner"] not in KNOWN:
            unknown += 1
            key = (e["conn"], e["inner"])
            if key not in unknown_seen:
                unknown_seen.add(key)
                transactions += 1
                methods.append("?%d" % e["inner"])
            continue
        transactions += 1
        if e["opcode"] == OP_COMPRESSED:
            compressed += 1
        # tapbeat decodes noop, snappy and zlib (the beginning of the body);
        # zstd it only marks.
        methods.append("-" if e["compressor"] == 3 else e["command"])
        if e["inner"] in (OP_INSERT, OP_UPDATE, OP_DELETE, OP_KILL_CURSORS, OP_MSG_LEGACY) or e["flags"] & MORE_TO_COME:
            no_reply += 1
    answered = {(e["conn"], e["response_to"]) for e in s2c}
    replied = sum(1 for e in c2s if (e["conn"], e["request_id"]) in answered)
    continuations = len(s2c) - replied
    requests = {(e["conn"], e["request_id"]) for e in c2s}
    errors = sum(1 for e in s2c if e["error"] and (e["conn"], e["response_to"]) in requests)
    row = [name, str(port), str(len(conns)), str(len(c2s)), str(len(s2c)), str(replied), str(no_reply),
           str(continuations), str(unknown), str(compressed), str(errors), str(transactions),
           ",".join(methods)]
    print("\t".join(row))


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif cmd == "client":
        name, port = sys.argv[2], int(sys.argv[3])
        {"pymongo": lambda: client_pymongo(port),
         "pymongo_zlib": lambda: client_pymongo(port, "zlib"),
         "legacy": lambda: client_legacy(port),
         "op_msg": lambda: client_op_msg(port)}[name]()
    elif cmd == "summary":
        summary(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
