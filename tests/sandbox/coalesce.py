#!/usr/bin/python3
"""A one-connection platform that sends two events (and the answer to the
bot's first heartbeat) as TLS records of their own in one TCP segment,
then nothing more: no results, no heartbeat_ack, a heartbeat interval of
ten minutes.  kefud reads its socket in bulk: one read takes all three
records, and what it does not serve at once stays in its own buffer,
where no poll will report it.  A kefud that served one record per read
and went back to poll would answer the first event only; one that serves
what it read answers both.  (A bot that reads record by record passes
too: the kernel keeps the rest and poll() says so.)  Exits 0 once kefud
has sent a reply to each message, 1 after TIMEOUT seconds without.

Usage: coalesce.py PORT CERT KEY TOKEN_FILE [TIMEOUT]
"""

import base64
import hashlib
import json
import socket
import ssl
import struct
import sys
import time


def frame(payload):
    """An unmasked server text frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 127, n)
    return head + payload


class Conn:
    """TLS over a blocking socket through memory BIOs, so that what goes
    on the wire, and in how many sends, is ours to say."""

    def __init__(self, sock, ctx):
        self.sock, self.inc, self.out = sock, ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_side=True)
        self.plain = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        self.flush()

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("coalesce: kefud closed the connection")
        self.inc.write(data)

    def read(self, n):
        while len(self.plain) < n:
            try:
                self.plain += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.flush()
                self.fill()
        data, self.plain = self.plain[:n], self.plain[n:]
        return data

    def read_until(self, end):
        while end not in self.plain:
            try:
                self.plain += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.fill()
        i = self.plain.index(end) + len(end)
        data, self.plain = self.plain[:i], self.plain[i:]
        return data

    def record(self, data):
        """data as TLS records of its own, not sent yet."""
        self.tls.write(data)
        return self.out.read()

    def frame(self):
        """The next client frame's payload (masked, unfragmented)."""
        b0, b1 = self.read(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack("!H", self.read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.read(8))[0]
        mask = self.read(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.read(n)))
        return b0 & 0x0f, data


def main():
    port, cert, key, token_file = sys.argv[1:5]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 60
    token = open(token_file).read().strip()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", int(port)))
    lsock.listen(1)
    print("coalesce: listening", file=sys.stderr, flush=True)
    sock, _ = lsock.accept()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Conn(sock, ctx)
    head = c.read_until(b"\r\n\r\n").decode("latin-1")
    if "authorization: bearer " + token.lower() not in head.lower():
        raise SystemExit("coalesce: no token in the handshake")
    wskey = [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
             if ln.lower().startswith("sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(
        (wskey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    hello = frame(json.dumps({"op": "hello", "heartbeat_ms": 600000}).encode())
    c.sock.sendall(c.record(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                             "Sec-WebSocket-Protocol: kefu.v1\r\n\r\n" % accept).encode()))
    c.sock.sendall(c.record(hello))
    sock.settimeout(timeout)
    op, data = c.frame()
    if json.loads(data).get("op") != "identify":
        raise SystemExit("coalesce: expected identify, got %r" % data)
    c.sock.sendall(c.record(frame(json.dumps(
        {"op": "ready", "shop": {"id": "shop-1", "name": "暖衣小铺"},
         "resume_from": 1}).encode())))
    # kefud holds its replies until the heartbeat it sends after ready
    # is answered: the answer goes in the same segment, after the events.
    while True:
        op, data = c.frame()
        if op == 1 and json.loads(data).get("op") == "heartbeat":
            break
    ids = ["m-co-1", "m-co-2"]
    records = b""
    for seq, mid in enumerate(ids, 1):
        ev = {"op": "event", "seq": seq, "type": "message", "conversation": "c-co-%d" % seq,
              "customer": {"id": "u-%d" % seq}, "message": {
                  "id": mid, "kind": "text", "text": "你好", "ts": int(time.time() * 1000)}}
        records += c.record(frame(json.dumps(ev, ensure_ascii=False).encode()))
    records += c.record(frame(b'{"op":"heartbeat_ack"}'))
    c.sock.sendall(records)  # three records, one send, one segment on loopback
    print("coalesce: sent three records in one segment (%d bytes)" % len(records),
          file=sys.stderr, flush=True)
    answered = set()
    try:
        while set(ids) - answered:
            op, data = c.frame()
            if op != 1:
                continue
            f = json.loads(data)
            if f.get("op") == "send" and f.get("reply_to") in ids:
                answered.add(f["reply_to"])
    except socket.timeout:
        print("coalesce: no reply to %s within %g s" % (sorted(set(ids) - answered), timeout),
              file=sys.stderr, flush=True)
        sys.exit(1)
    print("coalesce: both answered", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
