#!/usr/bin/python3
"""Many shops on one host: N kefud instances (as an agency runs one
kefud@SHOP per shop), each with its own state and its own sandbox
platform, all started at once.  Prints:

  - the start of all N at once: the time until every one is ready, and
    the CPU they used meanwhile;
  - once each holds CONVS conversations in memory (one customer message
    each), idle and connected: the CPU of all of them together over
    IDLE_S seconds, their wake-ups per second, and their memory (RSS
    summed, and PSS, which counts the shared libraries once).

Usage: many.py [BUILD_DIR] [--instances N] [--convs N] [--idle-seconds N]
Prints figures; asserts nothing but that each instance answered.
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cost import bench_args, rss_kb, threads  # noqa: E402
from load import TEXTS, Platform, kefud_conf, setup  # noqa: E402

SHARED = ("certs", "faq.conf", "synonyms.conf", "escalate.conf",
          "holidays-cn.conf", "lang")


def mem_kb(pid):
    rss, pss = rss_kb(pid), 0
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def ready(log):
    try:
        return "link: ready" in open(log, encoding="utf-8", errors="replace").read()
    except OSError:
        return False


def total(pids):
    cpu = sw = 0
    for pid in pids:
        for c, s in threads(pid).values():
            cpu += c
            sw += s
    return cpu, sw


def main():
    build, opt = bench_args({"--instances": 100, "--convs": 1000, "--idle-seconds": 30})
    n, convs, secs = opt["--instances"], opt["--convs"], opt["--idle-seconds"]
    with tempfile.TemporaryDirectory(prefix="kefu-many-") as tmp:
        setup(tmp, build)
        print("kefu: %d instances on one host, %s, %d cores" %
              (n, time.strftime("%Y-%m-%d"), os.cpu_count()))
        dirs, plats = [], []
        for i in range(n):
            d = "%s/shop-%03d" % (tmp, i)
            os.mkdir(d)
            for name in SHARED:
                os.symlink(tmp + "/" + name, d + "/" + name)
            # kefud opens its token without following links.
            with open(tmp + "/token", "rb") as src, open(d + "/token", "wb") as dst:
                dst.write(src.read())
            os.chmod(d + "/token", 0o600)
            dirs.append(d)
            plats.append(Platform(d))
            kefud_conf(d, build, plats[-1].port)
        # All at once, as after a reboot.
        t0 = time.monotonic()
        procs = [subprocess.Popen([build + "/kefud", "-c", d + "/kefud.conf"],
                                  stderr=open(d + "/kefud.log", "w")) for d in dirs]
        pids = [p.pid for p in procs]
        waiting = set(range(n))
        while waiting and time.monotonic() - t0 < 300:
            waiting = {i for i in waiting if not ready(dirs[i] + "/kefud.log")}
            dead = [i for i in waiting if procs[i].poll() is not None]
            if dead:
                print(open(dirs[dead[0]] + "/kefud.log").read()[-2000:])
                raise SystemExit("kefud of shop %d stopped" % dead[0])
            time.sleep(0.05)
        start_s = time.monotonic() - t0
        start_cpu, _ = total(pids)
        print("start   all %d ready %.1f s after being started at once (%d not ready); "
              "CPU %.0f ms each" % (n, start_s, len(waiting), start_cpu / n / 1000))
        # CONVS conversations into each, ten platforms at a time.
        lost = 0
        for b in range(0, n, 10):
            import threading
            res = [None] * n

            def one(i):
                res[i] = plats[i].ctl({"cmd": "load", "conversations": convs, "rate": 500,
                                       "seconds": convs / 500, "texts": TEXTS,
                                       "escalate_share": 0, "grace": 60})
            ts = [threading.Thread(target=one, args=(i,)) for i in range(b, min(b + 10, n))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            lost += sum(res[i]["lost"] for i in range(b, min(b + 10, n)))
        time.sleep(5)
        c0, s0 = total(pids)
        time.sleep(secs)
        c1, s1 = total(pids)
        rss = pss = 0
        for pid in pids:
            r, p = mem_kb(pid)
            rss += r
            pss += p
        print("idle    %d instances, %d conversations in memory each, connected: CPU %.2f %% "
              "of one core for all of them (%.0f us/s each), %.1f wake-ups/s in all; "
              "RSS %.0f MB in all (%.1f MB each), PSS %.0f MB in all (%.1f MB each); "
              "%d messages unanswered"
              % (n, convs, (c1 - c0) / secs / 1e4, (c1 - c0) / secs / n, (s1 - s0) / secs,
                 rss / 1024, rss / 1024 / n, pss / 1024, pss / 1024 / n, lost))
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        for p in plats:
            p.stop()
    sys.exit(0 if lost == 0 and not waiting else 1)


if __name__ == "__main__":
    main()
