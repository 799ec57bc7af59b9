#!/usr/bin/python3
"""A fake 微信客服 (WeChat Customer Service, the WeCom kf API) for kefud.

Written from the public WeCom documentation (developer.work.weixin.qq.com,
微信客服: 接收消息和事件, 发送消息, 发送欢迎语等事件响应消息, 分配客服会话,
获取 access_token, 回调配置 and its 加解密方案), it enforces what the real
platform does, so that kefud's driver is tried against the rules, not
against a mock that says yes:

- gettoken: the corp id and secret; the access token's lifetime
  (--token-life); an expired token is errcode 42001, an unknown one 40014.
- callbacks: each new message or event wakes the bot with a POST to its
  callback URL, signed (msg_signature: SHA1 over the sorted token,
  timestamp, nonce and encrypted text) and encrypted (AES-256-CBC, key
  from the EncodingAESKey, PKCS#7 to 32 bytes, the corp id inside).  The
  callback carries no content, only a Token for sync_msg.
- kf/sync_msg: from a cursor, at most limit (1000) messages, has_more and
  next_cursor; only the last 3 days are kept.
- kf/send_msg: only in session states 0 and 1 (else 95018); at most 5
  messages within 48 hours after each customer message: the sixth is
  accepted and not delivered, and a msg_send_fail event (fail_type 6)
  follows; a msgid already used is not delivered again.
- kf/send_msg_on_event: a welcome_code or msg_code, once, within 20 s.
- kf/service_state/get and /trans, with the state-transition table;
  state 3 needs a receiving agent (kf/servicer/list); a msg_code for the
  change to 2, 3 or 4.
- message/send: the app's messages to agents (the context of a handoff),
  kept per agent.

The console and the tests drive it through a unix control socket, one
JSON object per line, as with tests/sandbox/sandbox.py:
  open        conversation                  a customer enters (enter_session)
  message     conversation text [kind]      a customer writes (origin 3)
  agent_join  conversation [agent]          an agent takes it (state 3)
  agent_say   conversation text [agent]     an agent writes (origin 5)
  agent_release / close  conversation       the agent ends it (state 4)
  burst       n [conversations] [text] [prefix]  n customer messages at once
  fault       kind [count]: lose_callbacks | bad_signature | corrupt_body
              | revoke_tokens | busy (errcode -1 to the next count calls;
              with api and skip: to that api's calls after skip of them)
  verify                                    the URL verification (GET)
  advance     seconds                       the platform's clock moves on
  servicer    userid status                 0 receiving, 1 not
  inbox       agent                         what message/send gave them
  session     conversation                  its state and agent
  load        rate seconds texts [grace]    open-loop load, one message per
              conversation: first-reply latency (tests/bench/wecom.py)
  state                                     counters
  subscribe                                 stream of applied actions
Every action the platform applies is appended to the action log (JSON
lines): send (delivered or not), handoff (trans to 2 or 3), close (trans
to 4, with the closing line once it is sent), agent_context.
"""

import argparse
import asyncio
import base64
import collections
import ctypes
import hashlib
import json
import os
import secrets
import ssl
import struct
import subprocess
import sys
import time
import urllib.parse

from sandbox import serve_control  # the same control protocol

WINDOW_S = 3 * 86400
QUOTA, QUOTA_S = 5, 48 * 3600
CODE_S = 20

# Session states, and where each may go (分配客服会话): 0 new, 1 the bot,
# 2 the queue, 3 an agent, 4 ended.  A new session may not end before
# someone took it, and the queue only goes to an agent.
TRANSITIONS = {0: {1, 2, 3}, 1: {2, 3, 4}, 2: {3}, 3: {3, 4}, 4: set()}


def _libcrypto():
    try:
        lib = ctypes.CDLL("libcrypto.so.3")
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_aes_256_cbc.restype = ctypes.c_void_p
        lib.EVP_CipherInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        lib.EVP_CIPHER_CTX_set_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.EVP_CipherUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_char_p,
                                         ctypes.c_int]
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        return lib
    except (OSError, AttributeError):
        return None


LIBCRYPTO = _libcrypto()


def aes(key, data, decrypt):
    """AES-256-CBC without padding, with iv = key[:16]: OpenSSL's libcrypto
    through ctypes (kefud's own dependency), else openssl(1); no Python
    crypto module is needed on a fresh Debian."""
    if LIBCRYPTO is not None:
        ctx = LIBCRYPTO.EVP_CIPHER_CTX_new()
        try:
            LIBCRYPTO.EVP_CipherInit_ex(ctx, LIBCRYPTO.EVP_aes_256_cbc(), None, key, key[:16],
                                        0 if decrypt else 1)
            LIBCRYPTO.EVP_CIPHER_CTX_set_padding(ctx, 0)
            out = ctypes.create_string_buffer(len(data) + 32)
            n = ctypes.c_int(0)
            LIBCRYPTO.EVP_CipherUpdate(ctx, out, ctypes.byref(n), data, len(data))
            return out.raw[:n.value]
        finally:
            LIBCRYPTO.EVP_CIPHER_CTX_free(ctx)
    r = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-d" if decrypt else "-e",
         "-K", key.hex(), "-iv", key[:16].hex(), "-nopad"],
        input=data, capture_output=True, check=True)
    return r.stdout


def encrypt(key, corp_id, msg):
    body = os.urandom(16) + struct.pack(">I", len(msg)) + msg + corp_id.encode()
    pad = 32 - len(body) % 32
    return base64.b64encode(aes(key, body + bytes([pad]) * pad, False)).decode()


def decrypt(key, corp_id, text):
    plain = aes(key, base64.b64decode(text), True)
    plain = plain[:-plain[-1]]
    n = struct.unpack(">I", plain[16:20])[0]
    if plain[20 + n:].decode() != corp_id:
        raise ValueError("not for this corp")
    return plain[20:20 + n]


def signature(token, ts, nonce, enc):
    return hashlib.sha1("".join(sorted([token, ts, nonce, enc])).encode()).hexdigest()


class Session:
    def __init__(self):
        self.state = 0
        self.servicer = ""
        self.since = 0.0  # the customer's last message
        self.used = QUOTA  # nothing may go before the customer writes


class WeCom:
    def __init__(self, args):
        self.args = args
        secret, self.cb_token, aes_key = open(args.token_file).read().strip().split(":")
        self.secret = secret
        self.key = base64.b64decode(aes_key + "=")
        self.offset = 0.0
        self.tokens = {}  # access token -> expiry
        self.wake_tokens = {}  # callback Token -> expiry
        self.msgs = []  # every message and event, in order
        self.pulled = 0  # the highest index sync_msg returned, + 1
        self.pull_starts = []  # [tokens issued then, start index] per pull
        self.sessions = collections.defaultdict(Session)
        self.codes = {}  # code -> [conversation, kind, issued, used]
        self.msgids = {}  # send_msg msgid -> delivered
        self.attempts = collections.Counter()
        self.servicers = {}
        for s in filter(None, args.servicers.split(",")):
            u, st = s.split(":")
            self.servicers[u] = int(st)
        self.inbox = collections.defaultdict(list)
        self.stats = collections.Counter()
        self.faults = collections.Counter()
        self.busy_rules = []  # [api, skip, count]
        self.subscribers = set()
        self.msgno = 0
        self.log = open(args.action_log, "a")
        self.load_sent = {}  # customer -> when their message was made
        self.load_lat = []

    def now(self):
        return time.time() + self.offset

    # -- the API ------------------------------------------------------

    def err(self, code, msg):
        self.stats["errcode_%d" % code] += 1
        return {"errcode": code, "errmsg": msg}

    def check_token(self, q):
        tok = q.get("access_token", [""])[0]
        if tok not in self.tokens:
            return self.err(40014, "invalid access_token")
        if self.tokens[tok] < self.now():
            return self.err(42001, "access_token expired")
        if self.faults["busy"] > 0:
            self.faults["busy"] -= 1
            return self.err(-1, "system busy")
        return None

    def busy_api(self, api):
        """The fault busy with api: calls of it after skip, count times."""
        for rule in self.busy_rules:
            if rule[0] == api:
                if rule[1] > 0:
                    rule[1] -= 1
                elif rule[2] > 0:
                    rule[2] -= 1
                    return self.err(-1, "system busy")
        return None

    def api(self, method, path, q, body):
        self.stats["calls"] += 1
        self.stats["call_" + path.rsplit("/cgi-bin/", 1)[-1]] += 1
        if path == "/cgi-bin/gettoken":
            if q.get("corpid", [""])[0] != self.args.corp_id or \
                    q.get("corpsecret", [""])[0] != self.secret:
                return self.err(40001, "invalid credential")
            tok = secrets.token_urlsafe(48)
            self.tokens[tok] = self.now() + self.args.token_life
            self.stats["tokens"] += 1
            return {"errcode": 0, "errmsg": "ok", "access_token": tok,
                    "expires_in": self.args.token_life}
        e = self.check_token(q)
        if e is not None:
            return e
        try:
            b = json.loads(body) if method == "POST" else {}
        except ValueError:
            return self.err(47001, "data format error")
        fn = {
            "/cgi-bin/kf/sync_msg": self.sync_msg,
            "/cgi-bin/kf/send_msg": self.send_msg,
            "/cgi-bin/kf/send_msg_on_event": self.send_on_event,
            "/cgi-bin/kf/service_state/get": self.state_get,
            "/cgi-bin/kf/service_state/trans": self.state_trans,
            "/cgi-bin/kf/servicer/list": self.servicer_list,
            "/cgi-bin/message/send": self.message_send,
            "/cgi-bin/kf/account/list": self.account_list,
        }.get(path)
        if fn is None:
            return self.err(404, "no such api")
        return fn(b, q)

    def sync_msg(self, b, q):
        tok = b.get("token")
        if tok is not None and self.wake_tokens.get(tok, 0) < self.now():
            return self.err(95007, "invalid msg token")
        cur = b.get("cursor") or ""
        start = 0
        if cur:
            try:
                start = int(base64.b64decode(cur).decode().split(":")[1])
            except Exception:
                return self.err(95000, "invalid cursor")
        limit = min(int(b.get("limit", 1000)), 1000)
        # Only the last 3 days are kept.
        old = self.now() - WINDOW_S
        while start < len(self.msgs) and self.msgs[start]["send_time"] < old:
            start += 1
        page = self.msgs[start:start + limit]
        end = start + len(page)
        self.pulled = max(self.pulled, end)
        self.stats["pulls"] += 1
        self.pull_starts.append([self.stats["tokens"], start])
        return {"errcode": 0, "errmsg": "ok",
                "next_cursor": base64.b64encode(("c:%d" % end).encode()).decode(),
                "has_more": 1 if end < len(self.msgs) else 0,
                "msg_list": page}

    def record(self, a):
        a["ts"] = int(self.now() * 1000)
        line = json.dumps(a, ensure_ascii=False)
        self.log.write(line + "\n")
        self.log.flush()
        for w in list(self.subscribers):
            try:
                w.write(line.encode() + b"\n")
            except Exception:
                self.subscribers.discard(w)

    def text_of(self, b):
        if b.get("msgtype") != "text" or not isinstance(b.get("text"), dict):
            return None
        t = b["text"].get("content")
        return t if isinstance(t, str) and 0 < len(t.encode()) <= 2048 else None

    def deliver(self, api, conv, kfid, msgid, text, delivered):
        self.record({"op": "send", "api": api, "conversation": conv,
                     "open_kfid": kfid, "msgid": msgid, "text": text,
                     "delivered": delivered})

    def send_msg(self, b, q):
        e = self.busy_api("send_msg")
        if e is not None:
            return e
        kfid, user, msgid = b.get("open_kfid"), b.get("touser"), b.get("msgid")
        text = self.text_of(b)
        if not kfid or not user or text is None:
            return self.err(40058, "invalid parameter")
        if msgid is not None:
            self.attempts[msgid] += 1
            if len(msgid) > 32 or not all(c.isalnum() or c in "_-" for c in msgid):
                return self.err(40058, "invalid msgid")
            if msgid in self.msgids:
                self.stats["sends_again"] += 1
                return {"errcode": 0, "errmsg": "ok", "msgid": msgid}
        else:
            msgid = "m" + secrets.token_hex(8)
        s = self.sessions[(kfid, user)]
        if s.state not in (0, 1):
            return self.err(95018, "send msg session status invalid")
        delivered = s.used < QUOTA and self.now() - s.since <= QUOTA_S
        self.msgids[msgid] = delivered
        if delivered:
            s.used += 1
            self.stats["delivered"] += 1
            t0 = self.load_sent.pop(user, None)
            if t0 is not None:
                self.load_lat.append((time.monotonic() - t0) * 1000)
        else:
            self.stats["over_quota"] += 1
            self.append(kfid, user, 4, {
                "msgtype": "event",
                "event": {"event_type": "msg_send_fail", "open_kfid": kfid,
                          "external_userid": user, "fail_msgid": msgid,
                          "fail_type": 6}})
        self.deliver("send_msg", user, kfid, msgid, text, delivered)
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def take_code(self, code):
        c = self.codes.get(code)
        if c is None or c[3] or self.now() - c[2] > CODE_S:
            return None
        c[3] = True
        return c

    def send_on_event(self, b, q):
        text, msgid = self.text_of(b), b.get("msgid")
        if text is None:
            return self.err(40058, "invalid parameter")
        if msgid is not None and msgid in self.msgids:
            self.stats["sends_again"] += 1
            return {"errcode": 0, "errmsg": "ok", "msgid": msgid}
        c = self.take_code(b.get("code", ""))
        if c is None:
            return self.err(95007, "invalid code: unknown, used or over 20 s")
        (kfid, user), kind = c[0], c[1]
        msgid = msgid or "m" + secrets.token_hex(8)
        self.msgids[msgid] = True
        self.stats["delivered"] += 1
        self.deliver("send_msg_on_event", user, kfid, msgid, text, True)
        if kind == "end":
            self.record({"op": "close_line", "conversation": user, "text": text})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def new_code(self, conv, kind):
        code = secrets.token_urlsafe(24)
        self.codes[code] = [conv, kind, self.now(), False]
        return code

    def state_get(self, b, q):
        s = self.sessions[(b.get("open_kfid"), b.get("external_userid"))]
        return {"errcode": 0, "errmsg": "ok", "service_state": s.state,
                "servicer_userid": s.servicer}

    def state_trans(self, b, q):
        kfid, user = b.get("open_kfid"), b.get("external_userid")
        to, agent = b.get("service_state"), b.get("servicer_userid", "")
        if not kfid or not user or to not in TRANSITIONS:
            return self.err(40058, "invalid parameter")
        s = self.sessions[(kfid, user)]
        if to not in TRANSITIONS[s.state]:
            return self.err(95016, "state %d cannot become %d" % (s.state, to))
        if to == 3 and self.servicers.get(agent) != 0:
            return self.err(95014, "servicer %r is not receiving" % agent)
        was, s.state = s.state, to
        s.servicer = agent if to == 3 else ""
        res = {"errcode": 0, "errmsg": "ok"}
        if to in (2, 3, 4):
            res["msg_code"] = self.new_code((kfid, user), "end" if to == 4 else "trans")
        if to == 4:
            self.record({"op": "close", "conversation": user, "from_state": was})
        elif to in (2, 3):
            self.record({"op": "handoff", "conversation": user, "state": to,
                         "servicer": agent, "queue": agent or "接待池"})
        return res

    def servicer_list(self, b, q):
        return {"errcode": 0, "errmsg": "ok", "servicer_list": [
            {"userid": u, "status": st} for u, st in self.servicers.items()]}

    def account_list(self, b, q):
        return {"errcode": 0, "errmsg": "ok", "account_list": [
            {"open_kfid": self.args.open_kfid, "name": self.args.kf_name,
             "avatar": "", "manage_privilege": True}]}

    def message_send(self, b, q):
        text = self.text_of(b)
        if text is None or b.get("agentid") != self.args.agent_id or not b.get("touser"):
            return self.err(40056 if text is not None else 40058,
                            "invalid agentid or parameter")
        for u in b["touser"].split("|"):
            self.inbox[u].append(text)
            self.record({"op": "agent_context", "to": u, "text": text})
        return {"errcode": 0, "errmsg": "ok"}

    # -- messages and callbacks --------------------------------------

    def append(self, kfid, user, origin, fields, servicer=None):
        self.msgno += 1
        m = {"msgid": "wx%d-%d" % (os.getpid(), self.msgno), "open_kfid": kfid,
             "external_userid": user, "send_time": int(self.now()),
             "origin": origin}
        if servicer:
            m["servicer_userid"] = servicer
        m.update(fields)
        self.msgs.append(m)
        asyncio.get_running_loop().create_task(self.callback(kfid))
        return m

    async def post_callback(self, body, q):
        host, port = "127.0.0.1", self.args.callback_port
        r, w = await asyncio.open_connection(host, port)
        req = ("POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                   self.args.callback_path, urllib.parse.urlencode(q), host,
                   len(body))).encode() + body
        w.write(req)
        await w.drain()
        answer = await asyncio.wait_for(r.read(), 10)
        w.close()
        head, _, rest = answer.partition(b"\r\n\r\n")
        return int(head.split()[1]), rest.decode(errors="replace")

    def signed(self, enc, break_sig=False):
        ts, nonce = str(int(self.now())), secrets.token_hex(6)
        sig = signature(self.cb_token, ts, nonce, enc)
        if break_sig:
            sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}

    async def callback(self, kfid, corrupt=False, break_sig=False):
        if self.faults["lose_callbacks"] > 0 and not (corrupt or break_sig):
            self.faults["lose_callbacks"] -= 1
            self.stats["callbacks_lost"] += 1
            return None
        tok = secrets.token_urlsafe(16)
        self.wake_tokens[tok] = self.now() + 600
        inner = ("<xml><ToUserName><![CDATA[%s]]></ToUserName><CreateTime>%d</CreateTime>"
                 "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
                 "<Token><![CDATA[%s]]></Token><OpenKfId><![CDATA[%s]]></OpenKfId></xml>" % (
                     self.args.corp_id, int(self.now()), tok, kfid)).encode()
        enc = encrypt(self.key, self.args.corp_id, inner)
        if corrupt:
            # Signed as it is, but its last block (the corp id and the
            # padding) does not decrypt to anything valid.
            raw = bytearray(base64.b64decode(enc))
            raw[-20] ^= 0x5a
            enc = base64.b64encode(bytes(raw)).decode()
        body = ("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt>"
                "<AgentID><![CDATA[%d]]></AgentID></xml>" % (
                    self.args.corp_id, enc, self.args.agent_id)).encode()
        try:
            status, text = await self.post_callback(body, self.signed(enc, break_sig))
        except (OSError, asyncio.TimeoutError, ValueError, IndexError) as e:
            self.stats["callbacks_failed"] += 1
            return {"status": 0, "error": repr(e)}
        self.stats["callbacks"] += 1
        if status != 200 or text != "success":
            self.stats["callbacks_refused"] += 1
        return {"status": status, "body": text}

    async def verify(self, raw=False):
        echo = secrets.token_hex(8)
        enc = encrypt(self.key, self.args.corp_id, echo.encode())
        # raw: the base64 as it is in the query (+, / and = unescaped),
        # as some senders do; else %-escaped.
        while raw and "+" not in enc:
            enc = encrypt(self.key, self.args.corp_id, echo.encode())
        q = self.signed(enc)
        q["echostr"] = enc
        query = ("&".join("%s=%s" % kv for kv in q.items()) if raw
                 else urllib.parse.urlencode(q))
        r, w = await asyncio.open_connection("127.0.0.1", self.args.callback_port)
        w.write(("GET %s?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (
            self.args.callback_path, query)).encode())
        await w.drain()
        answer = await asyncio.wait_for(r.read(), 10)
        w.close()
        head, _, rest = answer.partition(b"\r\n\r\n")
        return {"ok": True, "status": int(head.split()[1]),
                "verified": rest.decode(errors="replace") == echo}

    # -- the control socket ------------------------------------------

    def conv(self, c):
        return (c.get("open_kfid", self.args.open_kfid), c["conversation"])

    def customer_says(self, kfid, user, text, kind="text"):
        s = self.sessions[(kfid, user)]
        if s.state == 4:
            s.state, s.servicer = 0, ""  # a new session
        s.since, s.used = self.now(), 0
        if kind == "text":
            fields = {"msgtype": "text", "text": {"content": text}}
        else:
            fields = {"msgtype": kind, kind: {"media_id": "media-1"}}
        return self.append(kfid, user, 3, fields)

    async def command(self, c, writer):
        cmd = c.get("cmd")
        if cmd == "open":
            kfid, user = self.conv(c)
            s = self.sessions[(kfid, user)]
            if s.state == 4:
                s.state, s.servicer = 0, ""
            code = self.new_code((kfid, user), "welcome")
            self.append(kfid, user, 4, {"msgtype": "event", "event": {
                "event_type": "enter_session", "open_kfid": kfid,
                "external_userid": user, "scene": "", "scene_param": "",
                "welcome_code": code}})
            return {"ok": True}
        if cmd == "message":
            kfid, user = self.conv(c)
            m = self.customer_says(kfid, user, c.get("text", ""), c.get("kind", "text"))
            return {"ok": True, "message_id": m["msgid"]}
        if cmd == "burst":
            n, convs = int(c["n"]), int(c.get("conversations", 1))
            ids = []
            for i in range(n):
                m = self.customer_says(self.args.open_kfid, "%s%d" % (
                    c.get("prefix", "wm-burst-"), i % convs), c.get("text", "你好"))
                ids.append(m["msgid"])
            return {"ok": True, "ids": ids}
        if cmd == "agent_join":
            kfid, user = self.conv(c)
            agent = c.get("agent", "zhangsan")
            s = self.sessions[(kfid, user)]
            s.state, s.servicer = 3, agent
            self.append(kfid, user, 4, {"msgtype": "event", "event": {
                "event_type": "session_status_change", "open_kfid": kfid,
                "external_userid": user, "change_type": 1,
                "new_servicer_userid": agent,
                "msg_code": self.new_code((kfid, user), "agent")}})
            return {"ok": True}
        if cmd == "agent_say":
            kfid, user = self.conv(c)
            s = self.sessions[(kfid, user)]
            if s.state != 3:
                return {"ok": False, "error": "no agent has this session"}
            m = self.append(kfid, user, 5, {"msgtype": "text", "text": {
                "content": c.get("text", "")}}, servicer=c.get("agent", s.servicer))
            self.record({"op": "agent_send", "conversation": user, "text": c.get("text", "")})
            return {"ok": True, "message_id": m["msgid"]}
        if cmd in ("agent_release", "close"):
            kfid, user = self.conv(c)
            s = self.sessions[(kfid, user)]
            s.state, s.servicer = 4, ""
            self.append(kfid, user, 4, {"msgtype": "event", "event": {
                "event_type": "session_status_change", "open_kfid": kfid,
                "external_userid": user, "change_type": 3,
                "msg_code": self.new_code((kfid, user), "agent_end")}})
            return {"ok": True}
        if cmd == "fault":
            kind, n = c["kind"], int(c.get("count", 1))
            if kind == "busy" and "api" in c:
                self.busy_rules.append([c["api"], int(c.get("skip", 0)), n])
                return {"ok": True}
            if kind in ("lose_callbacks", "busy"):
                self.faults[kind] += n
                return {"ok": True}
            if kind == "revoke_tokens":
                self.tokens.clear()
                return {"ok": True}
            if kind in ("bad_signature", "corrupt_body"):
                before = len(self.msgs)
                r = await self.callback(self.args.open_kfid,
                                        corrupt=kind == "corrupt_body",
                                        break_sig=kind == "bad_signature")
                return {"ok": True, "status": r["status"], "body": r.get("body"),
                        "messages": len(self.msgs) - before}
            return {"ok": False, "error": "unknown fault %r" % kind}
        if cmd == "load":
            return await self.load(c)
        if cmd == "verify":
            return await self.verify(bool(c.get("raw")))
        if cmd == "advance":
            self.offset += float(c["seconds"])
            return {"ok": True}
        if cmd == "servicer":
            self.servicers[c["userid"]] = int(c["status"])
            return {"ok": True}
        if cmd == "inbox":
            return {"ok": True, "messages": self.inbox.get(c["agent"], [])}
        if cmd == "session":
            s = self.sessions[self.conv(c)]
            return {"ok": True, "state": s.state, "servicer": s.servicer,
                    "used": s.used}
        if cmd == "attempts":
            return {"ok": True, "count": self.attempts[c["id"]]}
        if cmd == "state":
            # "seq"/"acked" as the sandbox names them: messages made, and
            # messages the bot has pulled.
            return {"ok": True, "seq": len(self.msgs), "acked": self.pulled,
                    "pull_starts": self.pull_starts[-50:],
                    "stats": dict(self.stats)}
        if cmd == "subscribe":
            self.subscribers.add(writer)
            return {"ok": True}
        return {"ok": False, "error": "unknown command %r" % cmd}

    async def load(self, c):
        """Open-loop arrivals: message i at start + i / rate, one customer
        each, whatever the bot does; then the first-reply latencies."""
        rate, n = float(c["rate"]), int(float(c["rate"]) * float(c["seconds"]))
        texts = c["texts"]
        self.load_sent, self.load_lat = {}, []
        calls0 = self.stats["calls"]
        pulls0, cb0 = self.stats["pulls"], self.stats["callbacks"]
        conn0 = self.stats["connections"]
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.msgno += 1
            user = "wm-load-%d-%d" % (os.getpid(), self.msgno)
            self.load_sent[user] = time.monotonic()
            self.customer_says(self.args.open_kfid, user, texts[i % len(texts)])
        sent_for = time.monotonic() - t0
        end = time.monotonic() + float(c.get("grace", 10))
        while self.load_sent and time.monotonic() < end:
            await asyncio.sleep(0.01)
        lat = sorted(self.load_lat)
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
        res = {"ok": True, "sent": n, "answered": len(lat),
               "unanswered": len(self.load_sent), "seconds": sent_for,
               "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
               "max": lat[-1] if lat else None,
               "calls": self.stats["calls"] - calls0,
               "pulls": self.stats["pulls"] - pulls0,
               "callbacks": self.stats["callbacks"] - cb0,
               "connections": self.stats["connections"] - conn0}
        self.load_sent = {}
        return res

    async def control(self, reader, writer):
        await serve_control(self.command, reader, writer,
                            self.subscribers.discard)

    # -- HTTP ---------------------------------------------------------

    async def http(self, reader, writer):
        self.stats["connections"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                hdr = {k.strip().lower(): v.strip() for k, _, v in
                       (l.partition(":") for l in lines[1:] if l)}
                body = await reader.readexactly(int(hdr.get("content-length", 0)))
                u = urllib.parse.urlsplit(target)
                res = self.api(method, u.path, urllib.parse.parse_qs(u.query),
                               body.decode(errors="replace"))
                out = json.dumps(res, ensure_ascii=False).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
                if hdr.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError,
                asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="the API, HTTPS")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-file", required=True,
                    help="corpsecret:callback token:EncodingAESKey")
    ap.add_argument("--corp-id", default="ww-kefu-sandbox")
    ap.add_argument("--open-kfid", default="wk-sandbox")
    ap.add_argument("--agent-id", type=int, default=1000002)
    ap.add_argument("--kf-name", default="暖衣小铺")
    ap.add_argument("--servicers", default="zhangsan:0,lisi:1")
    ap.add_argument("--callback-port", type=int, required=True)
    ap.add_argument("--callback-path", default="/wechat-kf/callback")
    ap.add_argument("--token-life", type=int, default=7200)
    ap.add_argument("--control", required=True)
    ap.add_argument("--action-log", required=True)
    args = ap.parse_args()

    p = WeCom(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if os.path.exists(args.control):
        os.unlink(args.control)
    ctl = await asyncio.start_unix_server(p.control, args.control)
    srv = await asyncio.start_server(p.http, args.host, args.port, ssl=ctx)
    print("wecom: listening on https://%s:%d, control %s" % (
        args.host, args.port, args.control), file=sys.stderr, flush=True)
    async with ctl, srv:
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
