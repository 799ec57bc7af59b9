#!/usr/bin/python3
"""What a customer message and an idle shop cost kefud, beside a reference bot.

One run, one load for both bots: customer messages at RATE a second over
TLS on loopback from the sandbox, one message per conversation, the
platform allowing any rate.  For kefud and for the reference Python bot
(refbot.py), each in a pass of its own:

  - first reply p50 / p99 / max, from the platform sending the message to
    the platform applying the reply;
  - CPU per message (user + system, from /proc), per thread;
  - in a second pass under `strace -c -f` (attached once the bot is
    connected, detached when the load ends): system calls per message, by
    kind.  Latency is not taken from that pass;

and for kefud alone, idle: connected, with IDLE_CONVS conversations in
memory, over IDLE_S seconds, the wake-ups per second (context switches of
all its threads, from /proc) and the system calls it made (strace); and
its RSS with IDLE_CONVS conversations of about 20 lines each.

Usage: cost.py [BUILD_DIR] [--rate N] [--seconds N] [--idle-convs N]
Prints figures; asserts nothing but that every message was answered.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link import TOP  # noqa: E402
from load import TEXTS, Kefud, Platform, kefud_conf, setup  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def threads(pid):
    """{thread name: (cpu us, context switches)} over all its threads; a
    name that several threads share is summed."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            stat = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
            status = open("/proc/%d/task/%s/status" % (pid, tid)).read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat.rsplit(")", 1)[1].split()
        cpu = (int(f[11]) + int(f[12])) * 1e6 / TICK
        sw = sum(int(m) for m in re.findall(
            r"^(?:non)?voluntary_ctxt_switches:\s*(\d+)", status, re.M))
        c, s = out.get(name, (0, 0))
        out[name] = (c + cpu, s + sw)
    return out


def delta(after, before):
    return {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1])
            for k, v in after.items()}


class Strace:
    """strace -c -f attached to a running process and all its threads."""

    def __init__(self, pid, out):
        self.out = out
        self.proc = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out],
                                     stderr=subprocess.DEVNULL)
        # Attached when every thread has a tracer.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            tids = os.listdir("/proc/%d/task" % pid)
            if all("TracerPid:\t0\n" not in open("/proc/%d/task/%s/status" % (pid, t)).read()
                   for t in tids):
                break
            time.sleep(0.02)
        time.sleep(0.2)

    def stop(self):
        """{syscall: calls}, detached."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait()
        calls = {}
        for line in open(self.out):
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                try:
                    calls[f[-1]] = int(f[3])
                except ValueError:
                    pass
        return calls


def run(tmp, build, who, rate, secs, traced):
    """One pass of the load against kefud or the reference bot."""
    if os.path.exists(tmp + "/actions.jsonl"):
        os.unlink(tmp + "/actions.jsonl")
    p = Platform(tmp)
    if who == "kefud":
        kefud_conf(tmp, build, p.port)
        bot = Kefud(tmp, build)
        proc = bot.proc
    else:
        proc = subprocess.Popen(["/usr/bin/python3", TOP + "/tests/bench/refbot.py",
                                 "wss://localhost:%d/bot" % p.port, tmp + "/certs/ca.pem",
                                 tmp + "/token"])
    while not p.ctl({"cmd": "state"})["connected"]:
        time.sleep(0.05)
    time.sleep(0.5)
    st = Strace(proc.pid, tmp + "/strace.txt") if traced else None
    t0 = threads(proc.pid)
    n = int(rate * secs)
    r = p.ctl({"cmd": "load", "conversations": n, "rate": rate, "seconds": secs,
               "texts": TEXTS, "escalate_share": 0, "grace": 60})
    used = delta(threads(proc.pid), t0)
    calls = st.stop() if st else None
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    p.stop()
    return r, used, calls


def in_memory(tmp, build):
    """Conversations in kefud's memory, from kefuctl status."""
    out = subprocess.run([build + "/kefuctl", "-c", tmp + "/kefud.conf", "--json", "status"],
                         capture_output=True, text=True).stdout
    try:
        return sum(json.loads(out)["conversations"].values())
    except (ValueError, KeyError):
        return None


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loaded(tmp, build, convs, per_conv, rate, grace=60):
    """A kefud with convs conversations in memory, per_conv customer
    messages each, and its platform."""
    if os.path.exists(tmp + "/actions.jsonl"):
        os.unlink(tmp + "/actions.jsonl")
    p = Platform(tmp)
    kefud_conf(tmp, build, p.port)
    with open(tmp + "/kefud.conf", "a") as f:
        f.write('control_socket = "kefud.sock";\n')
    k = Kefud(tmp, build)
    while not p.ctl({"cmd": "state"})["connected"]:
        time.sleep(0.05)
    n = convs * per_conv
    r = p.ctl({"cmd": "load", "conversations": convs, "rate": rate,
               "seconds": n / rate, "texts": TEXTS, "escalate_share": 0, "grace": grace})
    time.sleep(3)  # the store's last batch, the acks
    return p, k, r


def memory(tmp, build, convs, per_conv):
    """RSS of a running kefud holding convs conversations of about
    2 * per_conv lines each (the customer's and the bot's)."""
    # A question asked twice goes to an agent (repeated_after): those get
    # no more replies, and the load does not wait for them.
    p, k, r = loaded(tmp, build, convs, per_conv, 4000, grace=5)
    live, rss = in_memory(tmp, build), rss_kb(k.proc.pid)
    lines = r["sent"]
    for line in open(tmp + "/actions.jsonl", encoding="utf-8"):
        lines += json.loads(line).get("op") == "send"
    k.stop()
    p.stop()
    return live, lines / max(convs, 1), rss


def idle(tmp, build, convs, secs):
    """kefud connected and idle with convs conversations in memory."""
    p, k, r = loaded(tmp, build, convs, 1, 2000)
    live = in_memory(tmp, build)
    t0 = threads(k.proc.pid)
    time.sleep(secs)
    used = delta(threads(k.proc.pid), t0)
    st = Strace(k.proc.pid, tmp + "/strace-idle.txt")
    time.sleep(secs)
    calls = st.stop()
    rss = rss_kb(k.proc.pid)
    k.stop()
    p.stop()
    return r, live, used, calls, rss


def show_calls(calls, n):
    total = sum(calls.values())
    top = sorted(calls.items(), key=lambda kv: -kv[1])
    return "%5.1f: %s" % (total / n, ", ".join(
        "%s %.1f" % (k, v / n) for k, v in top if v / n >= 0.05))


def bench_args(opt):
    """The build directory (the first argument, else TOP/build) and opt
    with the numbers given for its options ("--name N")."""
    args, pos, i = sys.argv[1:], [], 0
    opt = dict(opt)
    while i < len(args):
        if args[i] in opt:
            opt[args[i]] = int(args[i + 1])
            i += 2
        else:
            pos.append(args[i])
            i += 1
    return os.path.abspath(pos[0] if pos else TOP + "/build"), opt


def main():
    build, opt = bench_args({"--rate": 500, "--seconds": 10, "--idle-convs": 10000,
                             "--idle-seconds": 10})
    rate, secs = opt["--rate"], opt["--seconds"]
    ok = True
    with tempfile.TemporaryDirectory(prefix="kefu-cost-") as tmp:
        setup(tmp, build)
        print("kefu cost per message, %s, %d cores: %d customer messages at %d/s, "
              "one per conversation, TLS on loopback"
              % (time.strftime("%Y-%m-%d"), os.cpu_count(), rate * secs, rate))
        cpu = {}
        for who in ("kefud", "refbot"):
            r, used, _ = run(tmp, build, who, rate, secs, False)
            n = max(r["sent"], 1)
            cpu[who] = sum(v[0] for v in used.values()) / n
            print("%-7s first reply ms p50 %.2f p99 %.2f max %.1f  lost %d" %
                  (who, r["p50"] or 0, r["p99"] or 0, r["max"] or 0, r["lost"]))
            print("        CPU %.0f us/msg: %s" % (cpu[who], ", ".join(
                "%s %.0f" % (k, v[0] / n) for k, v in sorted(used.items(), key=lambda kv: -kv[1][0])
                if v[0] > 0)))
            print("        wake-ups %.2f/msg" % (sum(v[1] for v in used.values()) / n))
            ok &= r["lost"] == 0
            r, _, calls = run(tmp, build, who, rate, secs, True)
            print("        system calls per message (strace pass) %s" %
                  show_calls(calls, max(r["sent"], 1)))
            ok &= r["lost"] == 0
        print("ratio   kefud / refbot CPU per message: %.2f" % (cpu["kefud"] / cpu["refbot"]))
        r, live, used, calls, rss = idle(tmp, build, opt["--idle-convs"], opt["--idle-seconds"])
        s = opt["--idle-seconds"]
        print("idle    kefud connected, %s conversations in memory, RSS %d kB: "
              "%.1f wake-ups/s, CPU %.0f us/s; system calls/s %s"
              % (live if live is not None else "?", rss,
                 sum(v[1] for v in used.values()) / s,
                 sum(v[0] for v in used.values()) / s,
                 show_calls(calls, s)))
        ok &= r["lost"] == 0
        live, lines, rss = memory(tmp, build, opt["--idle-convs"], 10)
        print("memory  kefud RSS %.1f MB with %s conversations in memory, %.0f lines each "
              "(history keeps the last 20)" % (rss / 1024, live, lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
