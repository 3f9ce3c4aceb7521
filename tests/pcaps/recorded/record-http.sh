#!/usr/bin/env bash
# record-http.sh — record the real HTTP test captures in tests/pcaps/recorded/http/.
#
# What it does, in short:
#   1. builds a throw-away work dir with an nginx config and generated content
#      (index.html, a 2 KiB text file, a 1 MiB text file, an SSI page);
#   2. creates its own network namespaces (see "Why namespaces" below);
#   3. starts nginx (daemon off, own config, own pid/log/temp paths);
#   4. for every scenario: starts tcpdump, runs the client(s), waits, stops
#      tcpdump, copies the classic-pcap file into the output dir;
#   5. tears everything down (trap), whatever happened.
#
# Requirements (Debian packages): nginx-light (or any nginx >= 1.13.2 with the
# ssi module), tcpdump, apache2-utils (ab), curl, python3, iproute2.
# Optional: tshark (only used for the summary printed at the end).
# Must run as root (tcpdump, ip netns).
#
# Usage:  sudo tests/pcaps/recorded/record-http.sh [OUTPUT_DIR]
#         OUTPUT_DIR defaults to the http/ folder next to this script.
#         TAPBEAT_REC_NO_NETNS=1 forces the plain host-loopback fallback.
#
# Why namespaces: the loopback scenarios run inside a private network
# namespace so that (a) nothing else on the machine shows up in the capture or
# collides with port 8088, and (b) the host's own `lo` is never touched.  It is
# still the `lo` device and 127.0.0.1, exactly as on a normal host.  The 1 MiB
# scenario needs Ethernet-sized segments: `lo` has MTU 65536 (and we must not
# change the host's lo MTU), so that one runs over a veth pair with MTU 1500
# between two namespaces we create (10.99.0.1 server <-> 10.99.0.2 client; the
# addresses only exist inside those namespaces, which are deleted on exit).
# If `ip netns` does not work, everything falls back to the host `lo`, and the
# large capture then has 64 KiB segments (a warning is printed).
#
# Captures differ from run to run only in timestamps, ephemeral ports, TCP
# sequence numbers, the Date header and the exact ACK/segment pattern; the
# request/response structure (and so MANIFEST.tsv) is the same every time.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-$HERE/http}
PORT=8088            # nginx, the server of every capture but chunked_split
UPSTREAM_PORT=8089   # internal nginx server block behind /upload (never captured)
PY_PORT=8090         # tiny python chunked server (chunked_split.pcap only)
NS_SRV=tapbeat-rec-srv
NS_CLI=tapbeat-rec-cli
VETH_SRV=tbrec0
VETH_CLI=tbrec1
SRV_IP=10.99.0.1
CLI_IP=10.99.0.2

if [[ $EUID -ne 0 ]]; then
    echo "record-http.sh: must run as root (tcpdump and ip netns need it)" >&2
    exit 1
fi
for tool in nginx tcpdump ab curl python3 ip; do
    command -v "$tool" >/dev/null || { echo "record-http.sh: missing $tool" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/tapbeat-rec.XXXXXX)
NGINX_PID=
PYSRV_PID=
TCPDUMP_PID=
USE_NETNS=0

cleanup() {
    # Runs on every exit path (normal, error, Ctrl-C): stop what we started,
    # by pid only, then drop the namespaces and the work dir.
    set +e
    if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
    if [[ -n $NGINX_PID ]]; then kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; fi
    if [[ -n $PYSRV_PID ]]; then kill "$PYSRV_PID" 2>/dev/null; wait "$PYSRV_PID" 2>/dev/null; fi
    if [[ $USE_NETNS == 1 ]]; then
        ip netns del "$NS_CLI" 2>/dev/null
        ip netns del "$NS_SRV" 2>/dev/null   # also removes the veth pair
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '== %s\n' "$*"; }

# ---------------------------------------------------------------------------
# Network setup.
# SRV: command prefix to run something in the server namespace (where nginx
#      and the loopback clients live).  CLI: prefix for the veth client side.
# ---------------------------------------------------------------------------
setup_netns() {
    # Idempotent: remove leftovers of an earlier interrupted run first.
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
    ip netns add "$NS_SRV" || return 1
    USE_NETNS=1
    ip netns add "$NS_CLI" || return 1
    # Fixed MAC addresses so the Ethernet headers are the same on every run.
    ip link add "$VETH_SRV" address 02:00:00:00:00:01 netns "$NS_SRV" type veth \
        peer name "$VETH_CLI" address 02:00:00:00:00:02 netns "$NS_CLI" || return 1
    ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$VETH_SRV" || return 1
    ip -n "$NS_CLI" addr add "$CLI_IP/24" dev "$VETH_CLI" || return 1
    for pair in "$NS_SRV $VETH_SRV" "$NS_CLI $VETH_CLI"; do
        set -- $pair
        # MTU 1500 like real Ethernet.  veth does TSO/GSO, so without the two
        # gso_max_* limits tcpdump would see 32-64 KiB "super segments"; this
        # makes the kernel hand the device one <= MSS segment at a time
        # (iproute2 can set these itself, so ethtool is not needed).
        ip -n "$1" link set dev "$2" mtu 1500 gso_max_size 1448 gso_max_segs 1 || return 1
        ip -n "$1" link set dev "$2" up || return 1
        ip -n "$1" link set dev lo up || return 1
    done
}

if [[ ${TAPBEAT_REC_NO_NETNS:-0} != 1 ]] && setup_netns 2>"$WORK/netns.err"; then
    SRV=(ip netns exec "$NS_SRV")
    CLI=(ip netns exec "$NS_CLI")
    LARGE_HOST=$SRV_IP
    LARGE_IFACE=$VETH_SRV
    SNAPLEN=65535          # frames are at most 1514 bytes (lo ones are small too)
else
    [[ -s $WORK/netns.err ]] && cat "$WORK/netns.err" >&2
    echo "WARNING: network namespaces unavailable; using the host lo for everything." >&2
    echo "WARNING: large_1mb.pcap will then have ~64 KiB segments (lo MTU 65536)." >&2
    if [[ $USE_NETNS == 1 ]]; then ip netns del "$NS_SRV" 2>/dev/null || true; ip netns del "$NS_CLI" 2>/dev/null || true; fi
    USE_NETNS=0
    SRV=()
    CLI=()
    LARGE_HOST=127.0.0.1
    LARGE_IFACE=lo
    SNAPLEN=262144         # lo frames reach 65549 bytes: 65535 would truncate them
fi
LO=http://127.0.0.1:$PORT

# ---------------------------------------------------------------------------
# Content.  Deterministic text (no randomness) with fixed mtimes, so that
# Content-Length, Last-Modified and ETag are identical on every run and the
# 304 request below can use known validators.
# ---------------------------------------------------------------------------
WWW=$WORK/www
mkdir -p "$WWW"
printf '<!DOCTYPE html>\n<html><head><title>tapbeat</title></head>\n<body><p>Hello from tapbeat test nginx.</p></body></html>\n' > "$WWW/index.html"
python3 - "$WWW" <<'PY'
import sys
www = sys.argv[1]
# 2 KiB: 32 lines of exactly 64 bytes.
with open(f"{www}/2k.txt", "w") as f:
    for i in range(32):
        f.write(f"2k line {i:02d} ".ljust(63, "abcdefghijklmnopqrstuvwxyz"[i % 26]) + "\n")
# 1 MiB: 16384 lines of exactly 64 bytes; each line numbered so a reassembly
# bug (lost/duplicated/reordered segment) is easy to spot in the body.
with open(f"{www}/1m.txt", "w") as f:
    for i in range(16384):
        f.write(f"1m line {i:06d} ".ljust(63, ".") + "\n")
PY
printf 'included part\n' > "$WWW/part.txt"
# SSI page: nginx cannot know the final length, so it answers HTTP/1.1 clients
# with Transfer-Encoding: chunked (one chunk per SSI piece) and HTTP/1.0
# clients with a body delimited by connection close.
cat > "$WWW/ssi.html" <<'EOF'
<html><body>
<p>first</p>
<!--# include virtual="/part.txt" -->
<p>second</p>
<!--# include virtual="/part.txt" -->
<p>third</p>
</body></html>
EOF
# Request body for the POST scenario (> 1 KiB).
python3 -c 'import sys; sys.stdout.write("".join(f"field{i:03d}=value-{i:03d}&" for i in range(200)))' > "$WORK/post-body.txt"
touch -d '2024-01-02 03:04:05 UTC' "$WWW"/*
INDEX_LM='Tue, 02 Jan 2024 03:04:05 GMT'
# nginx's ETag is "<mtime hex>-<size hex>".
INDEX_ETAG=$(printf '"%x-%x"' "$(stat -c %Y "$WWW/index.html")" "$(stat -c %s "$WWW/index.html")")

# nginx workers run as 'nobody': the (mktemp, mode 0700) work dir must be
# readable by them and the temp dirs writable.
chmod 0755 "$WORK"
chmod -R a+rX "$WWW"
for d in body proxy fastcgi uwsgi scgi; do mkdir -p "$WORK/tmp/$d"; done
chmod -R 1777 "$WORK/tmp"

cat > "$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;                    # we keep the master's pid ourselves
pid $WORK/nginx.pid;
error_log $WORK/error.log info;
events { worker_connections 256; }
http {
    default_type text/plain;
    types { text/html html; text/plain txt; }
    # "\$request" is logged so every scenario can be cross-checked against
    # what nginx itself saw.
    log_format scenario '\$request_method \$request_uri \$server_protocol \$status \$body_bytes_sent';
    access_log $WORK/access.log scenario;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000;
    gzip off;

    server {
        listen $PORT;          # all addresses of the namespace: 127.0.0.1 and $SRV_IP
        root $WWW;

        location = /ssi.html { ssi on; }
        # Same SSI page, plus an HTTP trailer field after the last chunk.
        location = /ssi-trailer.html {
            ssi on;
            try_files /ssi.html =404;
            add_trailer X-Tapbeat-Trailer "end-of-body";
        }
        location = /empty   { return 204; }
        # A POST target that really reads the whole request body before
        # answering: nginx buffers the body (sending "100 Continue" first when
        # the client asks for it), then proxies to the internal server below.
        location = /upload  {
            proxy_pass http://127.0.0.1:$UPSTREAM_PORT;
            proxy_http_version 1.1;
        }
        # Everything else: static files; a missing file gives a real 404.
    }

    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        access_log off;
        location / { return 200 "received \$content_length bytes\n"; }
    }
}
EOF

log "starting nginx ($(nginx -v 2>&1))"
"${SRV[@]}" nginx -e "$WORK/error.log" -c "$WORK/nginx.conf" &
NGINX_PID=$!   # 'ip netns exec' execs nginx, so this is the master's pid
for _ in $(seq 50); do
    "${SRV[@]}" curl -s -o /dev/null "$LO/index.html" && break
    sleep 0.1
done
"${SRV[@]}" curl -sf -o /dev/null "$LO/index.html" || { cat "$WORK/error.log" >&2; exit 1; }

# A tiny HTTP/1.1 server whose only job is to cut chunked bodies at awkward
# places: each write() below becomes its own TCP segment (TCP_NODELAY plus a
# short pause), so chunk-size lines, chunk data and the trailer straddle
# segment boundaries.  nginx always sends a whole chunked body in one write,
# so it cannot produce this.  Used only for chunked_split.pcap.
cat > "$WORK/chunk_server.py" <<'PY'
import socketserver, sys, time

CHUNK1 = b"this is chunk 1\n"                 # 16 bytes -> size line "10"
CHUNK2 = b"this is chunk 2, split in two\n"   # 30 bytes -> size line "1e"
SIZE2 = b"%x" % len(CHUNK2)
PIECES = [
    # response head, alone in its segment
    b"HTTP/1.1 200 OK\r\nServer: tapbeat-chunk-server/1 (python3)\r\n"
    b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
    b"Trailer: X-Checksum\r\n\r\n",
    b"%x\r\n" % len(CHUNK1) + CHUNK1 + b"\r\n",  # one whole chunk
    SIZE2[:1],                                  # first hex digit of the size line...
    SIZE2[1:] + b";name=value\r\n" + CHUNK2[:10],  # ...the rest, a chunk extension, 10 data bytes
    CHUNK2[10:] + b"\r",                        # the remaining data bytes + CR
    b"\n5\r\nbye!\n\r\n0\r\nX-Checksum: 1234",     # LF, a 5-byte chunk, last-chunk, half a trailer
    b"5\r\n\r\n",                               # end of trailer field + end of message
]
PLAIN = b"plain body after the chunked one\n"

class Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True
    def handle(self):
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = self.rfile.readline()
                if not line:
                    return
                head += line
            path = head.split(b" ", 2)[1]
            if path == b"/split-chunks":
                for piece in PIECES:
                    self.wfile.write(piece)
                    time.sleep(0.05)
            elif path == b"/plain":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nServer: tapbeat-chunk-server/1 (python3)\r\n"
                                 b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(PLAIN))
                time.sleep(0.05)
                self.wfile.write(PLAIN)
            else:
                self.wfile.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
"${SRV[@]}" python3 "$WORK/chunk_server.py" "$PY_PORT" &
PYSRV_PID=$!
for _ in $(seq 50); do
    "${SRV[@]}" curl -s -o /dev/null "http://127.0.0.1:$PY_PORT/plain" && break
    sleep 0.1
done

mkdir -p "$OUT"

# ---------------------------------------------------------------------------
# capture NAME IFACE PORT CLIENT_FUNCTION
# Runs tcpdump in the server namespace on IFACE, filtered to the server PORT,
# runs the client function, then stops tcpdump.
#   -U        flush every packet to the file (nothing lost in a buffer)
#   -s        snaplen 65535: whole frames (262144 in the lo fallback)
#   -B 32768  32 MiB kernel buffer: the 1 MiB transfer arrives in a few ms and
#             the default 2 MiB ring overflowed in tests
#   -w        classic pcap (tcpdump never writes pcapng)
#   -Z root   keep root so the file can be written anywhere
# ---------------------------------------------------------------------------
capture() {
    local name=$1 iface=$2 port=$3; shift 3
    local pcap=$WORK/$name.pcap tlog=$WORK/$name.tcpdump.log clog=$WORK/$name.client.log
    local acc_before
    acc_before=$(wc -l < "$WORK/access.log")
    log "$name: capturing on $iface"
    "${SRV[@]}" tcpdump -i "$iface" -U -s "$SNAPLEN" -B 32768 -Z root -w "$pcap" "tcp port $port" 2>"$tlog" &
    TCPDUMP_PID=$!
    for _ in $(seq 100); do grep -q 'listening on' "$tlog" && break; sleep 0.1; done
    grep -q 'listening on' "$tlog" || { cat "$tlog" >&2; exit 1; }
    sleep 0.3
    "$@" >"$clog" 2>&1 || { echo "client failed:" >&2; cat "$clog" >&2; exit 1; }
    # Let the last ACK/FIN reach the capture before stopping it.
    sleep 1
    kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=
    sed 's/^/   tcpdump: /' "$tlog" | grep -v 'listening on'
    sed 's/^/   client: /' "$clog"
    tail -n +"$((acc_before + 1))" "$WORK/access.log" | sed 's/^/   nginx: /'
    install -m 0644 "$pcap" "$OUT/$name.pcap"
}

# ---- client helpers -------------------------------------------------------

# 1. ab keep-alive: HTTP/1.0 + "Connection: Keep-Alive", 50 requests, 1 conn.
# ab prints a report; keep the counting lines and fail unless every request
# completed (Failed requests: 0).
ab_summary() {
    grep -E '^(Server Software|Complete requests|Failed requests|Keep-Alive requests|Non-2xx)' |
        tee /dev/stderr | grep -q '^Failed requests: *0$'
}

client_ab_keepalive() {
    "${SRV[@]}" ab -k -n 50 -c 1 "$LO/index.html" | ab_summary
}

# 2. One curl process, one connection (curl reuses it across URLs and across
#    --next): 200, 404, 200 (2 KiB), HEAD 200, conditional GET -> 304, 204.
client_curl_mixed() {
    local w='%{method} %{url_effective} %{http_code} conn#%{num_connects}\n'
    "${SRV[@]}" curl -sS -w "$w" \
        -o /dev/null "$LO/index.html" \
        -o /dev/null "$LO/missing.html" \
        -o /dev/null "$LO/2k.txt" \
        --next -sS -w "$w" -I -o /dev/null "$LO/index.html" \
        --next -sS -w "$w" -o /dev/null \
            -H "If-Modified-Since: $INDEX_LM" -H "If-None-Match: $INDEX_ETAG" "$LO/index.html" \
        --next -sS -w "$w" -o /dev/null "$LO/empty"
    # num_connects: 1 for the first URL, 0 afterwards = connection reused.
}

# 3. Chunked: SSI page (5 chunks), SSI page with a trailer, then a plain
#    Content-Length response, all on one keep-alive connection.
client_chunked() {
    local w='%{method} %{url_effective} %{http_code} conn#%{num_connects}\n'
    "${SRV[@]}" curl -sS -w "$w" \
        -o /dev/null "$LO/ssi.html" \
        -o /dev/null "$LO/ssi-trailer.html" \
        -o /dev/null "$LO/index.html"
}

# 4. 1 MiB over the MTU-1500 veth (client in its own namespace).
client_large() {
    "${CLI[@]}" curl -sS -o "$WORK/1m.download" \
        -w '%{method} %{url_effective} %{http_code} %{size_download} bytes\n' \
        "http://$LARGE_HOST:$PORT/1m.txt" || return 1
    cmp "$WORK/1m.download" "$WWW/1m.txt" && echo "body identical to 1m.txt"
}

# 5. Pipelining: 5 requests written with a single send() before reading
#    anything; the last one says "Connection: close" so nginx closes after
#    answering all five in order, and we read to EOF.
client_pipelined() {
    "${SRV[@]}" python3 - 127.0.0.1 "$PORT" <<'PY'
import re, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
paths = ["/index.html", "/2k.txt", "/missing.html", "/empty", "/index.html"]
reqs = b""
for i, p in enumerate(paths):
    close = "Connection: close\r\n" if i == len(paths) - 1 else ""
    reqs += (f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n"
             f"User-Agent: tapbeat-pipeline/1\r\nAccept: */*\r\n{close}\r\n").encode()
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(reqs)                      # all five requests in one send()
print(f"sent {len(paths)} requests in one send ({len(reqs)} bytes)")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
s.close()
codes = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
print("responses:", ",".join(c.decode() for c in codes))
sys.exit(0 if len(codes) == len(paths) else 1)
PY
}

# 6. POST with "Expect: 100-continue" (two on one connection, same body).
#    curl only adds Expect by itself for big bodies, so it is set explicitly.
client_post_100() {
    "${SRV[@]}" curl -sS -H 'Expect: 100-continue' -H 'Content-Type: application/x-www-form-urlencoded' \
        --data-binary @"$WORK/post-body.txt" \
        -w '%{method} %{url_effective} %{http_code} conn#%{num_connects}\n' \
        -o /dev/null "$LO/upload" -o /dev/null "$LO/upload" || return 1
    echo "body size: $(stat -c %s "$WORK/post-body.txt") bytes"
}

# 7. HTTP/1.0 request to the SSI page: nginx cannot chunk for 1.0 and does not
#    know the length, so the response has no Content-Length and ends at close.
client_http10() {
    "${SRV[@]}" curl -sS -0 -D - -o "$WORK/http10.body" "$LO/ssi.html" | tr -d '\r' || return 1
    echo "body bytes: $(stat -c %s "$WORK/http10.body")"
}

# 8. 20 separate connections, one request each (ab without -k sends
#    HTTP/1.0 without keep-alive; nginx closes after each response).
client_many() {
    "${SRV[@]}" ab -n 20 -c 2 "$LO/index.html" | ab_summary
}

# 9. (extra) chunked body cut at awkward places by the python server, with a
#    chunk extension and a trailer, then a Content-Length response on the same
#    connection.  curl checks the framing; the decoded body is printed.
client_chunked_split() {
    "${SRV[@]}" curl -sS -w '%{method} %{url_effective} %{http_code} conn#%{num_connects}\n' \
        -o "$WORK/split.body" "http://127.0.0.1:$PY_PORT/split-chunks" \
        -o /dev/null "http://127.0.0.1:$PY_PORT/plain" || return 1
    echo "decoded chunked body ($(stat -c %s "$WORK/split.body") bytes):"
    cat "$WORK/split.body"
}

capture ab_keepalive         lo             "$PORT"    client_ab_keepalive
capture curl_keepalive_mixed lo             "$PORT"    client_curl_mixed
capture chunked              lo             "$PORT"    client_chunked
capture large_1mb            "$LARGE_IFACE" "$PORT"    client_large
capture pipelined            lo             "$PORT"    client_pipelined
capture post_100_continue    lo             "$PORT"    client_post_100
capture http10_close         lo             "$PORT"    client_http10
capture many_connections     lo             "$PORT"    client_many
capture chunked_split        lo             "$PY_PORT" client_chunked_split

# ---------------------------------------------------------------------------
# Summary (informational).  Counted per HTTP message, not per frame: several
# pipelined requests can share one frame.  tshark counts "100 Continue" as an
# http.response, so interim (1xx) responses are counted separately.
# ---------------------------------------------------------------------------
log "written to $OUT"
count_fields() { # FILE FIELD -> one value per HTTP message, in order
    tshark -r "$1" -Y "$2" -T fields -E occurrence=a -E aggregator=, -e "$2" 2>/dev/null |
        tr ',' '\n' | sed '/^$/d'
}
for f in "$OUT"/*.pcap; do
    printf '%-26s %8d bytes  %s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
        "$(tcpdump -r "$f" -c 1 2>&1 >/dev/null | grep -o 'link-type [^,]*')"
    if command -v tshark >/dev/null; then
        req=$(count_fields "$f" http.request.method | wc -l)
        codes=$(count_fields "$f" http.response.code)
        fin=$(awk 'NF && $1 >= 200' <<<"$codes" | wc -l)
        inter=$(awk 'NF && $1 < 200' <<<"$codes" | wc -l)
        printf '    requests=%s final_responses=%s interim_1xx=%s codes=%s\n' \
            "$req" "$fin" "$inter" "$(paste -sd, - <<<"$codes")"
    fi
done
