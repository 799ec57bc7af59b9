#!/usr/bin/python3
"""The sandbox platform: the platform side of ../shared/platform-protocol.md.

A real TLS websocket server on 127.0.0.1 that a bot (kefud) connects to,
plus a control socket (unix, one JSON object per line) through which tests
and the chat terminal play customers and agents, inject faults and read the
platform's state.  Every action the platform applies is appended to the
action log (JSON lines), so tests can count replies per message.

Control commands ({"cmd": ...}); each gets one JSON line back:
  open        conversation [customer] [product]        conversation_opened
  message     conversation text [customer] [kind] [product] [order] [ts]
  agent_join  conversation [agent]                     agent_joined
  agent_say   conversation text [agent]                agent_message
  agent_release conversation [by]                      handoff_ended
  close       conversation [by]                        conversation_closed
  fault       kind: drop | reconnect | garbage | binary | oversized |
              bad_utf8 | unknown_op | wrong_types | mute | unmute |
              swallow (apply actions, send no result) | unswallow |
              away (cut and refuse connections) | back |
              ignore_acks (neither acks nor identify.last_seq count,
              so every event is sent again after a reconnect) | heed_acks
  fail_next   code [count] [retry_after_ms] [op]       force action results
  fail_clear                                           forget forced results
  attempts    id                                       times an id was sent
  burst       n [conversations] [text]                 n customer messages at once
  agents      on: true|false                           on duty or not
  state                                                counters and flags
  subscribe                                            stream of applied actions
  load        conversations rate seconds texts [escalate_texts]
              [escalate_share] [grace]                 open-loop load: messages
              at a fixed rate over many conversations; answers with the
              first-reply latency of each (see tests/bench/load.py)
"""

import argparse
import asyncio
import collections
import http
import json
import os
import ssl
import sys
import time

MAX_FRAME = 65536
RATE = 20  # actions per second per shop


def now_ms():
    return int(time.time() * 1000)


async def serve_control(command, reader, writer, closed=None):
    """A control client: one JSON command a line, one JSON answer a line
    (command(cmd, writer) gives it); closed(writer) when it goes.  The
    fake 微信客服 (wecom.py) serves its control socket with it too."""
    try:
        while line := await reader.readline():
            try:
                res = await command(json.loads(line), writer)
            except Exception as e:
                res = {"ok": False, "error": repr(e)}
            writer.write(json.dumps(res, ensure_ascii=False).encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if closed is not None:
            closed(writer)
        writer.close()


class Platform:
    def __init__(self, args):
        self.args = args
        self.token = open(args.token_file).read().strip()
        self.seq = 0
        self.events = collections.OrderedDict()  # seq -> event, unacked
        self.acked = 0
        self.results = {}  # action id -> first final result
        self.accepted = collections.deque()  # times of accepted actions
        self.fail = []  # forced results: [code, count, retry, op]
        self.agents_on_duty = True
        self.load_sent = {}  # message id -> time sent, until its first reply
        self.load_lat = []   # first-reply latencies, ms
        self.load_conv = {}  # message id -> conversation
        self.load_handed = set()  # conversations handed to an agent
        self.conversations = {}  # id -> "open" | "closed"
        self.bot = None
        self.muted = False
        self.swallow = False
        self.ignore_acks = False
        self.away = False
        self.attempts = collections.Counter()
        self.stats = collections.Counter()
        self.identify = None
        self.auth_times = []
        self.subscribers = set()
        self.msgno = 0
        self.log = open(args.action_log, "a", buffering=1)

    # -- bot side ------------------------------------------------------

    async def process_request(self, path, headers):
        if self.away:
            return (http.HTTPStatus.SERVICE_UNAVAILABLE, [], b"away\n")
        if headers.get("Authorization") != "Bearer " + self.token:
            self.stats["auth_failures"] += 1
            self.auth_times.append(time.time())
            return (http.HTTPStatus.UNAUTHORIZED, [], b"bad token\n")
        return None

    async def bot_handler(self, ws, path=None):
        if ws.subprotocol != "kefu.v1":
            await ws.close(1002, "expected Sec-WebSocket-Protocol kefu.v1")
            return
        if self.bot is not None:
            await self.bot.close(1000, "replaced by a new connection")
        self.bot = ws
        self.muted = False
        self.stats["connections"] += 1
        hb = self.args.heartbeat_ms
        try:
            await ws.send(json.dumps({"op": "hello", "heartbeat_ms": hb}))
            ident = json.loads(await asyncio.wait_for(ws.recv(), 2 * hb / 1000))
            if ident.get("op") != "identify":
                await ws.close(1002, "expected identify")
                return
            self.identify = ident
            last = ident.get("last_seq", 0)
            if isinstance(last, int) and last > self.acked and not self.ignore_acks:
                self.ack(last)
            await ws.send(json.dumps({
                "op": "ready",
                "shop": {"id": "shop-1", "name": self.args.shop_name},
                "resume_from": self.acked + 1}))
            self.stats["ready"] += 1
            for ev in list(self.events.values()):
                await ws.send(json.dumps(ev))
                self.stats["redelivered"] += 1
            while True:
                raw = await asyncio.wait_for(ws.recv(), 2 * hb / 1000)
                await self.bot_frame(ws, raw)
        except asyncio.TimeoutError:
            self.stats["silent_closed"] += 1
            await ws.close(1000, "silent for two heartbeat intervals")
        except Exception:
            pass
        finally:
            if self.bot is ws:
                self.bot = None

    def ack(self, seq):
        self.acked = max(self.acked, min(seq, self.seq))
        while self.events and next(iter(self.events)) <= self.acked:
            self.events.popitem(last=False)

    async def bot_frame(self, ws, raw):
        if isinstance(raw, bytes):
            await ws.send(json.dumps({"op": "error", "code": "bad_frame",
                                      "message": "binary frame"}))
            return
        try:
            f = json.loads(raw)
            op = f["op"]
        except Exception:
            await ws.send(json.dumps({"op": "error", "code": "bad_frame",
                                      "message": "not a JSON object with op"}))
            return
        if op == "heartbeat":
            self.stats["heartbeats"] += 1
            if not self.muted:
                await ws.send(json.dumps({"op": "heartbeat_ack"}))
        elif op == "ack":
            self.stats["acks"] += 1
            if isinstance(f.get("seq"), int) and not self.ignore_acks:
                self.ack(f["seq"])
        elif op in ("send", "typing", "handoff", "close"):
            res = self.action(f)
            if not self.swallow:
                await ws.send(json.dumps(dict(res, op="result", id=f.get("id"))))
        else:
            await ws.send(json.dumps({"op": "error", "code": "bad_frame",
                                      "message": "unknown op " + str(op)}))

    def forced(self, op):
        for i, (code, count, retry, only) in enumerate(self.fail):
            if only is None or only == op:
                if count <= 1:
                    del self.fail[i]
                else:
                    self.fail[i][1] -= 1
                return code, retry
        return None, None

    @staticmethod
    def error(code, message, retry=None):
        e = {"code": code, "message": message}
        if retry is not None:
            e["retry_after_ms"] = retry
        return {"ok": False, "error": e}

    def invalid(self, f):
        op = f["op"]
        if not isinstance(f.get("conversation"), str):
            return "conversation must be a string"
        if op == "send":
            t = f.get("text")
            if not isinstance(t, str) or not 1 <= len(t) <= 2000:
                return "text must be 1 to 2000 characters"
        if op == "handoff":
            if f.get("priority") not in ("normal", "high", "urgent"):
                return "priority must be normal, high or urgent"
            for k in ("queue", "reason", "summary"):
                if not isinstance(f.get(k), str):
                    return k + " must be a string"
            if len(f["summary"]) > 200:
                return "summary longer than 200 characters"
            if not isinstance(f.get("context"), dict):
                return "context must be an object"
        return None

    def action(self, f):
        self.stats["actions"] += 1
        aid = f.get("id")
        if not isinstance(aid, str) or not aid:
            return self.error("invalid", "id must be a non-empty string")
        self.attempts[aid] += 1
        if aid in self.results:
            self.stats["duplicates"] += 1
            return self.results[aid]
        t = time.time()
        while self.accepted and t - self.accepted[0] >= 1.0:
            self.accepted.popleft()
        code, retry = self.forced(f["op"])
        if code is None and len(self.accepted) >= self.args.rate:
            code = "rate_limited"
            retry = int((1.0 - (t - self.accepted[0])) * 1000) + 1
        if code == "rate_limited":
            self.stats["rate_limited"] += 1
            return self.error(code, "too many actions", retry or 500)
        if code is not None and code != "no_agents":
            self.stats[code] += 1
            res = self.error(code, "forced by the sandbox")
            if code in ("invalid", "unknown_conversation"):
                self.results[aid] = res
            return res
        self.accepted.append(t)
        why = self.invalid(f)
        if why is not None:
            res = self.error("invalid", why)
            self.results[aid] = res
            self.stats["invalid"] += 1
            return res
        if self.conversations.get(f["conversation"]) != "open":
            res = self.error("unknown_conversation", "no such open conversation")
            self.results[aid] = res
            return res
        if f["op"] == "handoff" and (code == "no_agents" or not self.agents_on_duty):
            self.stats["no_agents"] += 1
            return self.error("no_agents", "no agent on duty")
        if f["op"] == "close":
            self.conversations[f["conversation"]] = "closed"
        res = {"ok": True}
        self.results[aid] = res
        self.stats["applied"] += 1
        if f["op"] == "send" and self.load_sent:
            sent = self.load_sent.pop(f.get("reply_to"), None)
            if sent is not None:
                self.load_lat.append((time.monotonic() - sent) * 1000)
        if f["op"] == "handoff":
            self.load_handed.add(f["conversation"])
        entry = dict(f, applied_ms=now_ms())
        self.log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        for q in list(self.subscribers):
            q.put_nowait(entry)
        return res

    # -- platform side: customers, agents, faults ---------------------

    async def emit(self, ev):
        self.seq += 1
        ev = dict(op="event", seq=self.seq, **ev)
        self.events[self.seq] = ev
        if self.bot is not None and not self.muted:
            try:
                await self.bot.send(json.dumps(ev))
            except Exception:
                pass
        return self.seq

    @staticmethod
    def customer(c, conv):
        return c or {"id": "u-" + conv, "name": "顾客" + conv[-4:]}

    async def command(self, c, writer):
        cmd = c.get("cmd")
        conv = c.get("conversation", "c-1")
        agent = c.get("agent") or {"id": "a-1", "name": "小李"}
        if cmd == "open":
            self.conversations[conv] = "open"
            ev = {"type": "conversation_opened", "conversation": conv,
                  "customer": self.customer(c.get("customer"), conv)}
            if c.get("product"):
                ev["product"] = c["product"]
            return {"ok": True, "seq": await self.emit(ev)}
        if cmd == "message":
            self.conversations.setdefault(conv, "open")
            self.msgno += 1
            mid = c.get("message_id") or "m-%d-%d" % (os.getpid(), self.msgno)
            msg = {"id": mid, "kind": c.get("kind", "text"),
                   "text": c.get("text", ""), "ts": c.get("ts", now_ms())}
            for k in ("product", "order"):
                if k in c:
                    msg[k] = c[k]
            seq = await self.emit({"type": "message", "conversation": conv,
                                   "customer": self.customer(c.get("customer"), conv),
                                   "message": msg})
            return {"ok": True, "seq": seq, "message_id": mid}
        if cmd == "agent_join":
            return {"ok": True, "seq": await self.emit(
                {"type": "agent_joined", "conversation": conv, "agent": agent})}
        if cmd == "agent_say":
            msg = {"id": "am-%d" % (self.seq + 1), "kind": "text",
                   "text": c.get("text", ""), "ts": c.get("ts", now_ms())}
            return {"ok": True, "seq": await self.emit(
                {"type": "agent_message", "conversation": conv,
                 "agent": agent, "message": msg})}
        if cmd == "agent_release":
            return {"ok": True, "seq": await self.emit(
                {"type": "handoff_ended", "conversation": conv,
                 "by": c.get("by", "agent")})}
        if cmd == "close":
            self.conversations[conv] = "closed"
            return {"ok": True, "seq": await self.emit(
                {"type": "conversation_closed", "conversation": conv,
                 "by": c.get("by", "customer")})}
        if cmd == "fault":
            return await self.fault(c.get("kind"))
        if cmd == "fail_next":
            self.fail.append([c["code"], c.get("count", 1),
                              c.get("retry_after_ms"), c.get("op")])
            return {"ok": True}
        if cmd == "burst":
            n, convs = int(c.get("n", 1000)), int(c.get("conversations", 100))
            first = self.seq + 1
            for i in range(n):
                conv = "c-burst-%d" % (i % convs)
                self.conversations.setdefault(conv, "open")
                self.msgno += 1
                await self.emit({"type": "message", "conversation": conv,
                                 "customer": self.customer(None, conv),
                                 "message": {"id": "m-%d-%d" % (os.getpid(), self.msgno),
                                             "kind": "text", "text": c.get("text", "在吗"),
                                             "ts": now_ms()}})
            return {"ok": True, "first": first, "last": self.seq}
        if cmd == "load":
            return await self.load(c)
        if cmd == "fail_clear":
            self.fail = []
            return {"ok": True}
        if cmd == "attempts":
            return {"ok": True, "attempts": self.attempts[c.get("id")]}
        if cmd == "agents":
            self.agents_on_duty = bool(c.get("on"))
            return {"ok": True}
        if cmd == "state":
            return {"ok": True, "connected": self.bot is not None,
                    "seq": self.seq, "acked": self.acked,
                    "unacked": len(self.events), "identify": self.identify,
                    "auth_times": self.auth_times, "stats": dict(self.stats)}
        if cmd == "subscribe":
            q = asyncio.Queue()
            self.subscribers.add(q)
            try:
                writer.write(b'{"ok": true}\n')
                while True:
                    entry = await q.get()
                    writer.write(json.dumps(entry, ensure_ascii=False).encode() + b"\n")
                    await writer.drain()
            finally:
                self.subscribers.discard(q)
        return {"ok": False, "error": "unknown command %r" % cmd}

    async def fault(self, kind):
        ws = self.bot
        if kind in ("away", "back"):
            # An outage: the connection cut, new ones refused until back;
            # events meanwhile wait for the bot as usual.
            self.away = kind == "away"
            if self.away and self.bot is not None:
                self.bot.transport.abort()
            return {"ok": True}
        if kind == "mute":
            self.muted = True
            return {"ok": True}
        if kind == "unmute":
            self.muted = False
            return {"ok": True}
        if kind in ("ignore_acks", "heed_acks"):
            self.ignore_acks = kind == "ignore_acks"
            return {"ok": True}
        if kind in ("swallow", "unswallow"):
            self.swallow = kind == "swallow"
            return {"ok": True}
        if ws is None:
            return {"ok": False, "error": "no bot connected"}
        self.stats["fault_" + kind] += 1
        if kind == "drop":
            ws.transport.abort()  # no close frame
        elif kind == "reconnect":
            await ws.send(json.dumps({"op": "reconnect", "reason": "sandbox"}))
        elif kind == "garbage":
            await ws.send("this is {not json")
        elif kind == "binary":
            await ws.send(b"\x00\x01binary\xff")
        elif kind == "oversized":
            await ws.send(json.dumps({"op": "event", "pad": "x" * (MAX_FRAME + 10)}))
        elif kind == "oversized_binary":
            await ws.send(b"\x00" * (MAX_FRAME + 10))
        elif kind == "bad_utf8":
            payload = b'{"op":"heartbeat_ack","x":"\xc3\x28"}'
            ws.transport.write(bytes([0x81, len(payload)]) + payload)
        elif kind == "unknown_op":
            await ws.send(json.dumps({"op": "surprise", "x": 1}))
        elif kind == "wild_seq":
            # A buggy platform: one well-formed event with an absurd seq,
            # never sent again.
            await ws.send(json.dumps({
                "op": "event", "seq": 2 ** 53, "type": "message",
                "conversation": "c-wild",
                "customer": {"id": "u-wild"},
                "message": {"id": "m-wild", "kind": "text", "text": "你好",
                            "ts": now_ms()}}))
        elif kind == "wrong_types":
            await ws.send(json.dumps({"op": "event", "seq": "seven",
                                      "type": 5, "conversation": []}))
        else:
            return {"ok": False, "error": "unknown fault %r" % kind}
        return {"ok": True}

    async def load(self, c):
        """Open-loop arrivals: message i goes out at start + i / rate,
        whatever the bot does.  Escalating texts go to conversations of
        their own, so the others stay with the bot."""
        import random
        rnd = random.Random(c.get("seed", 1))
        convs, rate = int(c["conversations"]), float(c["rate"])
        n = int(rate * float(c["seconds"]))
        texts, esc = c["texts"], c.get("escalate_texts") or []
        share = float(c.get("escalate_share", 0)) if esc else 0
        self.load_lat = []
        self.load_sent = {}
        self.load_conv = {}
        self.load_handed = set()
        all_ids = []
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.msgno += 1
            mid = "l-%d-%d" % (os.getpid(), self.msgno)
            if rnd.random() < share:
                conv, text = "c-esc-%d" % self.msgno, rnd.choice(esc)
            else:
                conv, text = "c-load-%d" % (i % convs), rnd.choice(texts)
            self.conversations.setdefault(conv, "open")
            self.load_sent[mid] = time.monotonic()
            self.load_conv[mid] = conv
            all_ids.append(mid)
            await self.emit({"type": "message", "conversation": conv,
                             "customer": self.customer(None, conv),
                             "message": {"id": mid, "kind": "text", "text": text,
                                         "ts": now_ms()}})
        sent_for = time.monotonic() - t0
        end = time.monotonic() + float(c.get("grace", 10))
        while self.load_sent and time.monotonic() < end:
            await asyncio.sleep(0.01)
        lat = sorted(self.load_lat)
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
        # Unanswered because an agent has the conversation (the bot is
        # silent then by design), or lost.
        waiting = [m for m in self.load_sent if self.load_conv[m] in self.load_handed]
        lost = sorted(m for m in self.load_sent if self.load_conv[m] not in self.load_handed)
        self.load_sent = {}
        self.load_conv = {}
        self.load_handed = set()
        return {"ok": True, "sent": n, "answered": len(lat), "lost": len(lost),
                "with_agent": len(waiting),
                "lost_ids": lost[:20], "seconds": sent_for,
                "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                "max": lat[-1] if lat else None, "first": all_ids[0] if all_ids else None}

    async def control(self, reader, writer):
        await serve_control(self.command, reader, writer)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="a loopback address")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true", help="ws:// instead of wss://")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--control", required=True, help="unix socket path")
    ap.add_argument("--action-log", required=True)
    ap.add_argument("--heartbeat-ms", type=int, default=15000)
    ap.add_argument("--shop-name", default="暖衣小铺")
    ap.add_argument("--rate", type=int, default=RATE,
                    help="actions per second the platform accepts (load benchmarks lift it)")
    args = ap.parse_args()

    import websockets
    p = Platform(args)
    ctx = None
    if not args.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    if os.path.exists(args.control):
        os.unlink(args.control)
    ctl = await asyncio.start_unix_server(p.control, args.control)
    async with websockets.serve(
            p.bot_handler, args.host, args.port, ssl=ctx,
            subprotocols=["kefu.v1"], process_request=p.process_request,
            max_size=MAX_FRAME, compression=None, ping_interval=None):
        print("sandbox: listening on %s://%s:%d, control %s" % (
            "ws" if args.plain else "wss", args.host, args.port, args.control),
            file=sys.stderr, flush=True)
        async with ctl:
            await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
