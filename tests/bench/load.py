#!/usr/bin/python3
"""Load, reloads and faults against the sandbox platform: prints figures.

Open-loop arrivals from the sandbox (`load` command): customer messages at a
fixed rate over many conversations, a mix of greetings, FAQ questions and
thanks, plus bargaining and complaints in conversations of their own.  For
each scenario: first-reply latency (p50/p90/p99/max, from the platform
sending the message to the platform applying the reply), the bot's CPU time
per message (from /proc), peak RSS, messages without a reply, and replies a
customer would have seen twice (from the sandbox's action log).  Messages
to a conversation an agent has (kefud hands over repeated questions,
bargaining and complaints) get no bot reply by design: they are counted
apart ("after a handoff"), not as lost.

  steady   kefud, then the reference bot (refbot.py) under the same load
  reload   kefud with a SIGHUP every second
  faults   kefud with connection drops and kill -9 restarts under load

Usage: load.py [BUILD_DIR] [--smoke]     (make bench; --smoke in make check)
Exit status 1 when a message is lost or a reply doubled; the figures
themselves assert nothing.
"""

import collections
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link import TOP, cpu_us, free_port, peak_rss_kb, wait_for  # noqa: E402

TEXTS = ["你好", "在吗", "几天能到", "发什么快递", "可以发顺丰吗", "怎么退货",
         "退货运费谁出", "能换货吗", "尺码标准吗", "有色差吗", "能开发票吗",
         "有优惠券吗", "会起球吗", "羽绒服能机洗吗", "是纯棉的吗", "谢谢",
         "170cm 65kg穿什么码", "地址填错了怎么改", "有大码吗", "还有库存吗"]
ESCALATE = ["100卖不卖", "能便宜点吗", "我要投诉", "衣服破了个洞", "转人工"]


class Platform:
    """A sandbox with its action log, the rate limit lifted."""

    def __init__(self, tmp):
        self.tmp, self.port = tmp, free_port()
        self.log = tmp + "/sandbox.log"
        open(self.log, "w").close()
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", TOP + "/tests/sandbox/sandbox.py", "--port", str(self.port),
             "--cert", tmp + "/certs/server.pem", "--key", tmp + "/certs/server.key",
             "--token-file", tmp + "/token", "--control", tmp + "/ctl",
             "--action-log", tmp + "/actions.jsonl", "--rate", "1000000"],
            stderr=open(self.log, "a"))
        wait_for(self.log, "sandbox: listening")

    def ctl(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.tmp + "/ctl")
        s.sendall(json.dumps(cmd, ensure_ascii=False).encode() + b"\n")
        res = json.loads(s.makefile(encoding="utf-8").readline())
        s.close()
        return res

    def load(self, conversations, rate, seconds, grace=20):
        return self.ctl({"cmd": "load", "conversations": conversations, "rate": rate,
                         "seconds": seconds, "texts": TEXTS, "escalate_texts": ESCALATE,
                         "escalate_share": 0.05, "grace": grace})

    def doubled(self):
        """Replies applied twice with the same text to the same message."""
        seen = collections.Counter()
        for line in open(self.tmp + "/actions.jsonl", encoding="utf-8"):
            a = json.loads(line)
            if a.get("op") == "send" and a.get("reply_to"):
                seen[(a["reply_to"], a["text"])] += 1
        return sum(n - 1 for n in seen.values() if n > 1)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def setup(tmp, build):
    subprocess.run([TOP + "/tests/sandbox/mkcerts.sh", tmp + "/certs"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(tmp + "/token", "w") as f:
        f.write("load-token\n")
    os.chmod(tmp + "/token", 0o600)
    for name in ("faq.conf", "synonyms.conf", "escalate.conf", "holidays-cn.conf"):
        with open(TOP + "/etc/kefu/" + name, "rb") as src, open(tmp + "/" + name, "wb") as dst:
            dst.write(src.read())
    import shutil
    shutil.rmtree(tmp + "/lang", ignore_errors=True)
    shutil.copytree(TOP + "/etc/kefu/lang", tmp + "/lang")


def kefud_conf(tmp, build, port, platform=None):
    """The shipped configuration with the sandbox on port as platform, or
    the platform group given (without its pacing, added here); a fresh
    state too: each sandbox numbers its events from 1 again."""
    import shutil
    shutil.rmtree(tmp + "/state", ignore_errors=True)
    conf = open(TOP + "/etc/kefu/kefud.conf", encoding="utf-8").read()
    conf = conf.replace('@include "platform.conf"', "")
    if platform is None:
        platform = ('url = "wss://localhost:%d/bot"; ca_file = "certs/ca.pem"; '
                    'token_file = "token";' % port)
    with open(tmp + "/kefud.conf", "w", encoding="utf-8") as f:
        f.write('state_dir = "state";\nplugin_dir = "%s/plugins";\n%s\n'
                'platform = { %s actions_per_second = 100000; '
                'faster_than_protocol = true; };\n'
                % (build, conf, platform))


class Kefud:
    def __init__(self, tmp, build):
        self.tmp, self.build, self.klog = tmp, build, tmp + "/kefud.log"
        open(self.klog, "w").close()
        self.at = 0
        self.start()

    def start(self):
        self.proc = subprocess.Popen([self.build + "/kefud", "-c", self.tmp + "/kefud.conf"],
                                     stderr=open(self.klog, "a"))
        self.at = wait_for(self.klog, "link: ready", self.at)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def report(name, r, cpu, rss, doubled):
    print("%-8s %6d msgs %5.0f/s  first reply ms p50 %6.2f p90 %6.2f p99 %7.2f max %7.1f"
          "  CPU %5.1f us/msg  RSS %6d kB  lost %d  doubled %d  (%d after a handoff)"
          % (name, r["sent"], r["sent"] / r["seconds"], r["p50"] or 0, r["p90"] or 0,
             r["p99"] or 0, r["max"] or 0, cpu / max(r["sent"], 1), rss, r["lost"], doubled,
             r["with_agent"]))
    return r["lost"] == 0 and doubled == 0


def steady(tmp, build, convs, rate, secs):
    ok = True
    p = Platform(tmp)
    kefud_conf(tmp, build, p.port)
    k = Kefud(tmp, build)
    c0 = cpu_us(k.proc.pid)
    r = p.load(convs, rate, secs)
    ok &= report("kefud", r, cpu_us(k.proc.pid) - c0, peak_rss_kb(k.proc.pid), p.doubled())
    k.stop()
    p.stop()
    kefud = r

    os.unlink(tmp + "/actions.jsonl")
    p = Platform(tmp)
    ref = subprocess.Popen(["/usr/bin/python3", TOP + "/tests/bench/refbot.py",
                            "wss://localhost:%d/bot" % p.port, tmp + "/certs/ca.pem",
                            tmp + "/token"])
    while not p.ctl({"cmd": "state"})["connected"]:
        time.sleep(0.05)
    c0 = cpu_us(ref.pid)
    r = p.load(convs, rate, secs)
    report("refbot", r, cpu_us(ref.pid) - c0, peak_rss_kb(ref.pid), p.doubled())
    ref.terminate()
    ref.wait()
    p.stop()
    if r["p99"] and kefud["p99"]:
        print("ratio    refbot / kefud: p99 %.1fx" % (r["p99"] / kefud["p99"]))
    return ok


RELOADABLE_NUMBERS = (
    "history", "wait_update_ms", "wait_updates_max", "close_after_ms",
    "backlog_ms", "flood_per_minute", "flood_cooldown_ms", "max_live",
    "keep_days", "unanswered_keep_days", "unanswered_max",
    "no_agents_retry_ms", "no_agents_update_ms", "busy_threshold",
    "margin_percent", "target_wrong_permille", "unanswered_after",
    "repeated_after")
RELOADABLE_TEXTS = (
    "wait_update_text", "close_text", "backlog_apology", "flood_text",
    "no_agents_text", "no_agents_busy_text", "no_agents_update_text",
    "failed_text", "fallback", "welcome", "holiday_welcome",
    "product_welcome", "busy_welcome", "short_reply", "closing",
    "clarify_intro", "clarify_outro")


def variant(conf):
    """The configuration with every reloadable number and text changed
    (the history size among them), and the followups' times."""
    conf = re.sub(r"\b(%s)(\s*=\s*)(\d+);" % "|".join(RELOADABLE_NUMBERS),
                  lambda m: "%s%s%d;" % (m.group(1), m.group(2), int(m.group(3)) + 37),
                  conf)
    conf = re.sub(r'\b(%s)(\s*=\s*)"([^"]*)";' % "|".join(RELOADABLE_TEXTS),
                  lambda m: '%s%s"%s（改）";' % (m.group(1), m.group(2), m.group(3)),
                  conf)
    assert "followup_ms = [120000, 300000]" in conf and "\nconversations = {" in conf
    conf = conf.replace("followup_ms = [120000, 300000]", "followup_ms = [90000, 200000]")
    return conf.replace("\nconversations = {", "\nconversations = {\n\thistory = 57;", 1)


def reloads(tmp, build, convs, rate, secs):
    """SIGHUP every second under load, each reload changing every
    reloadable key one way or back: nothing lost, nothing doubled, every
    reload live."""
    os.path.exists(tmp + "/actions.jsonl") and os.unlink(tmp + "/actions.jsonl")
    p = Platform(tmp)
    kefud_conf(tmp, build, p.port)
    shipped = open(tmp + "/kefud.conf", encoding="utf-8").read()
    changed = variant(shipped)
    assert changed != shipped
    k = Kefud(tmp, build)
    stop = threading.Event()

    def hup():
        n = 0
        while not stop.wait(1.0):
            n += 1
            with open(tmp + "/kefud.conf", "w", encoding="utf-8") as f:
                f.write(changed if n % 2 else shipped)
            k.proc.send_signal(signal.SIGHUP)
    t = threading.Thread(target=hup)
    t.start()
    c0 = cpu_us(k.proc.pid)
    r = p.load(convs, rate, secs)
    stop.set()
    t.join()
    ok = report("reload", r, cpu_us(k.proc.pid) - c0, peak_rss_kb(k.proc.pid), p.doubled())
    log = open(k.klog, encoding="utf-8", errors="replace").read()
    print("         %d reloads went live during the run, each changing every "
          "reloadable key; %d failed" % (log.count("reload ok"), log.count("reload failed")))
    if log.count("reload failed") or "Sanitizer" in log or "runtime error:" in log:
        print(log[-3000:])
        ok = False
    k.stop()
    p.stop()
    return ok


def faults(tmp, build, convs, rate, secs, drops, kills):
    os.path.exists(tmp + "/actions.jsonl") and os.unlink(tmp + "/actions.jsonl")
    p = Platform(tmp)
    kefud_conf(tmp, build, p.port)
    k = Kefud(tmp, build)
    stop = threading.Event()
    done = collections.Counter()

    def chaos():
        events = ["drop"] * drops + ["kill"] * kills
        gap = secs / (len(events) + 1)
        for i, e in enumerate(events):
            if stop.wait(gap):
                return
            if i % max(1, len(events) // max(kills, 1)) == 0 and done["kill"] < kills:
                k.proc.send_signal(signal.SIGKILL)
                k.proc.wait()
                k.start()
                done["kill"] += 1
            else:
                p.ctl({"cmd": "fault", "kind": "drop"})
                done["drop"] += 1
    t = threading.Thread(target=chaos)
    t.start()
    r = p.load(convs, rate, secs, grace=60)
    stop.set()
    t.join()
    ok = report("faults", r, 0, 0, p.doubled())
    print("         %d connection drops, %d kill -9 restarts during the run"
          % (done["drop"], done["kill"]))
    k.stop()
    p.stop()
    return ok


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    build = os.path.abspath(args[0] if args else TOP + "/build")
    smoke = "--smoke" in sys.argv
    with tempfile.TemporaryDirectory(prefix="kefu-load-") as tmp:
        setup(tmp, build)
        print("kefu load benchmark%s, %s, %d cores" % (" (smoke)" if smoke else "",
              time.strftime("%Y-%m-%d"), os.cpu_count()))
        if smoke:
            ok = steady(tmp, build, 200, 100, 2)
            ok &= reloads(tmp, build, 200, 100, 3)
            ok &= faults(tmp, build, 200, 100, 4, 3, 1)
        else:
            ok = steady(tmp, build, 5000, 1000, 20)
            ok &= reloads(tmp, build, 2000, 500, 20)
            ok &= faults(tmp, build, 2000, 200, 60, 100, 20)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
