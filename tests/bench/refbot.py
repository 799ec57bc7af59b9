#!/usr/bin/python3
"""A reference bot, for comparison only: what a shop might write instead of
kefu.  Python with Debian's python3-websockets, the same protocol, the same
knowledge base (etc/kefu/faq.conf) with a plain matcher: the entry whose
example questions share the most characters with the message.  It answers
every customer message, acks at once, keeps nothing on disk.

Usage: refbot.py URL CA_FILE TOKEN_FILE
"""

import asyncio
import json
import re
import ssl
import sys

import websockets

TOP = __file__.rsplit("/tests/", 1)[0]


def load_kb(path):
    """(question characters, answer) per entry, from the libconfig file."""
    text = open(path, encoding="utf-8").read()
    kb = []
    for m in re.finditer(r'questions\s*=\s*\[(.*?)\];.*?answer\s*=\s*"(.*?)";', text, re.S):
        qs = re.findall(r'"(.*?)"', m.group(1))
        kb.append((set("".join(qs)), m.group(2)))
    return kb


KB = load_kb(TOP + "/etc/kefu/faq.conf")
FALLBACK = "您好,请问有什么可以帮您?"


def answer(text):
    chars = set(text)
    best, score = FALLBACK, 0
    for qchars, ans in KB:
        s = len(chars & qchars)
        if s > score:
            best, score = ans, s
    return best


async def run(url, ca, token):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx, subprotocols=["kefu.v1"],
                                  extra_headers={"Authorization": "Bearer " + token},
                                  max_size=65536, ping_interval=None) as ws:
        n = 0
        async for raw in ws:
            f = json.loads(raw)
            op = f.get("op")
            if op == "hello":
                await ws.send(json.dumps({"op": "identify", "client": "refbot/1", "last_seq": 0}))
            elif op == "event":
                if f.get("type") == "message":
                    m = f.get("message", {})
                    n += 1
                    await ws.send(json.dumps({
                        "op": "send", "id": "ref:%s" % m.get("id"),
                        "conversation": f["conversation"],
                        "text": answer(m.get("text", "")), "reply_to": m.get("id")},
                        ensure_ascii=False))
                await ws.send(json.dumps({"op": "ack", "seq": f["seq"]}))


if __name__ == "__main__":
    url, ca, token_file = sys.argv[1:4]
    asyncio.run(run(url, ca, open(token_file).read().strip()))
