#!/usr/bin/python3
"""Chat with kefud as a customer, through the sandbox platform.

Type a line to send it as the customer.  Commands:
  /new            start a new conversation (a new customer)
  /open [title]   a new customer opens the chat from a product page
  /agent-join     a live agent takes the conversation
  /agent-say TEXT the agent writes to the customer
  /agent-release  the agent hands the conversation back to the bot
  /close          the customer closes the conversation
  /fault KIND     drop | reconnect | garbage | oversized | mute | unmute
  /state          the platform's counters
  /log            the last lines kefud logged
  /help, /quit
"""

import argparse
import asyncio
import json
import sys

BOLD, DIM, GREEN, YELLOW, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[33m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = GREEN = YELLOW = RESET = ""


class Chat:
    def __init__(self, args):
        self.args = args
        self.n = 1
        self.conv = "c-chat-1"

    async def ctl(self, cmd):
        r, w = await asyncio.open_unix_connection(self.args.control)
        w.write(json.dumps(cmd).encode() + b"\n")
        await w.drain()
        res = json.loads(await r.readline())
        w.close()
        return res

    async def watch(self):
        r, w = await asyncio.open_unix_connection(self.args.control)
        w.write(b'{"cmd": "subscribe"}\n')
        await w.drain()
        await r.readline()
        while line := await r.readline():
            a = json.loads(line)
            where = "" if a.get("conversation") == self.conv else " [%s]" % a.get("conversation")
            if a["op"] == "send":
                print("\r%s客服%s%s: %s" % (GREEN + BOLD, where, RESET, a["text"]))
            elif a["op"] == "handoff":
                # The fake 微信客服 knows the queue (or agent) only.
                print("\r%s[转人工%s] %s/%s, %s: %s%s" % (YELLOW, where, a["queue"],
                      a.get("priority", "-"), a.get("reason", "-"),
                      a.get("summary", "-"), RESET))
            elif a["op"] == "agent_context":
                print("\r%s[给客服 %s 的消息]\n%s%s" % (DIM, a["to"], a["text"], RESET))
            elif a["op"] == "close":
                print("\r%s[会话结束%s] %s%s" % (DIM, where, a.get("text", ""), RESET))
            self.prompt()

    def prompt(self):
        print("%s顾客(%s)>%s " % (BOLD, self.conv, RESET), end="", flush=True)

    def say(self, text):
        print("%s%s%s" % (DIM, text, RESET))

    async def command(self, line):
        word, _, rest = line.partition(" ")
        if word == "/new":
            self.n += 1
            self.conv = "c-chat-%d" % self.n
            self.say("新会话 " + self.conv)
        elif word == "/open":
            self.n += 1
            self.conv = "c-chat-%d" % self.n
            product = {"id": "p-1", "title": rest or "加厚羽绒服", "price": "399.00"}
            await self.ctl({"cmd": "open", "conversation": self.conv, "product": product})
        elif word == "/agent-join":
            await self.ctl({"cmd": "agent_join", "conversation": self.conv})
            self.say("人工客服小李已接入")
        elif word == "/agent-say":
            await self.ctl({"cmd": "agent_say", "conversation": self.conv, "text": rest})
            print("%s人工客服%s: %s" % (YELLOW + BOLD, RESET, rest))
        elif word == "/agent-release":
            await self.ctl({"cmd": "agent_release", "conversation": self.conv})
            self.say("人工客服已把会话交还给机器人")
        elif word == "/close":
            await self.ctl({"cmd": "close", "conversation": self.conv})
            self.say("会话已关闭")
        elif word == "/fault":
            self.say(json.dumps(await self.ctl({"cmd": "fault", "kind": rest})))
        elif word == "/state":
            self.say(json.dumps(await self.ctl({"cmd": "state"}), ensure_ascii=False))
        elif word == "/log":
            with open(self.args.kefud_log, errors="replace") as f:
                self.say("".join(f.readlines()[-15:]).rstrip())
        elif word in ("/help", "/?"):
            self.say(__doc__.strip())
        elif word in ("/quit", "/exit"):
            return False
        else:
            self.say("unknown command; /help lists them")
        return True

    async def run(self):
        asyncio.ensure_future(self.watch())
        loop = asyncio.get_running_loop()
        print(__doc__.strip().splitlines()[0])
        self.say("kefud log: %s   (/help for commands)" % self.args.kefud_log)
        self.prompt()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            line = line.strip()
            if line.startswith("/"):
                if not await self.command(line):
                    break
            elif line:
                await self.ctl({"cmd": "message", "conversation": self.conv, "text": line})
            self.prompt()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--control", required=True)
    ap.add_argument("--kefud-log", required=True)
    try:
        asyncio.run(Chat(ap.parse_args()).run())
    except KeyboardInterrupt:
        pass
    print()


if __name__ == "__main__":
    main()
