#!/usr/bin/python3
"""Benchmark of the platform link: prints figures, asserts nothing.

  - frames per second kefud takes in on loopback (customer messages
    through the whole path: TLS, frame checks, event, plugin chain, ack),
    and kefud's CPU time per frame, from /proc;
  - time from the platform coming back after an outage to the link being
    ready again;
  - kefud's peak RSS.

Usage: tests/bench/link.py [BUILD_DIR] [--frames N]   (make bench)
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(path, needle, start=0, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            data = open(path, errors="replace").read()
        except FileNotFoundError:
            data = ""
        i = data.find(needle, start)
        if i >= 0:
            return i + len(needle)
        time.sleep(0.002)
    raise SystemExit("timed out waiting for %r in %s" % (needle, path))


def cpu_us(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


def peak_rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, build, tmp):
        self.build, self.tmp = build, tmp
        self.port = free_port()
        subprocess.run([TOP + "/tests/sandbox/mkcerts.sh", tmp + "/certs"], check=True)
        with open(tmp + "/token", "w") as f:
            f.write("bench-token\n")
        os.chmod(tmp + "/token", 0o600)
        with open(tmp + "/kefud.conf", "w") as f:
            f.write('log_level = "info";\nstate_dir = "state";\nplugin_dir = "%s/plugins";\n'
                    'plugins = ["hello"];\nhello = { text = "您好"; };\n'
                    'platform = { url = "wss://localhost:%d/bot"; '
                    'ca_file = "certs/ca.pem"; token_file = "token"; };\n'
                    % (build, self.port))
        self.klog = tmp + "/kefud.log"
        self.sandbox = None

    def start_sandbox(self):
        log = self.tmp + "/sandbox.log"
        open(log, "w").close()
        self.sandbox = subprocess.Popen(
            ["/usr/bin/python3", TOP + "/tests/sandbox/sandbox.py",
             "--port", str(self.port), "--cert", self.tmp + "/certs/server.pem",
             "--key", self.tmp + "/certs/server.key", "--token-file",
             self.tmp + "/token", "--control", self.tmp + "/ctl",
             "--action-log", self.tmp + "/actions.jsonl"],
            stderr=open(log, "a"))
        wait_for(log, "sandbox: listening")
        return time.time()

    def ctl(self, cmd):
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.tmp + "/ctl")
        s.sendall(json.dumps(cmd).encode() + b"\n")
        res = json.loads(s.makefile().readline())
        s.close()
        return res

    def run(self, frames):
        self.start_sandbox()
        kefud = subprocess.Popen([self.build + "/kefud", "-c", self.tmp + "/kefud.conf"],
                                 stderr=open(self.klog, "w"))
        at = wait_for(self.klog, "link: ready")
        # Greet each conversation first, so the burst measures the link and
        # the chain rather than the platform's pace for replies.
        self.ctl({"cmd": "burst", "n": 100, "conversations": 100})
        while self.ctl({"cmd": "state"})["acked"] < 100:
            time.sleep(0.05)
        c0, t0 = cpu_us(kefud.pid), time.time()
        last = self.ctl({"cmd": "burst", "n": frames, "conversations": 100})["last"]
        t_sent = time.time()
        while self.ctl({"cmd": "state"})["acked"] < last:
            time.sleep(0.001)
        t1, c1 = time.time(), cpu_us(kefud.pid)
        print("frames in:        %d customer messages, 100 conversations" % frames)
        print("  sandbox sent    %.0f frames/s (the Python sandbox is the limit)" % (frames / (t_sent - t0)))
        print("  kefud handled   %.0f frames/s, all acknowledged %.0f ms after the last was sent"
              % (frames / (t1 - t0), (t1 - t_sent) * 1000))
        print("  kefud CPU       %.1f us per frame" % ((c1 - c0) / frames))

        for down in (1, 5, 15):
            self.sandbox.send_signal(signal.SIGTERM)
            self.sandbox.wait()
            at = wait_for(self.klog, "link: lost", at)
            time.sleep(down)
            back = self.start_sandbox()
            at = wait_for(self.klog, "link: ready", at, timeout=120)
            print("outage of %2d s: link ready again %5.0f ms after the platform came back"
                  % (down, (time.time() - back) * 1000))
        print("kefud peak RSS:   %d kB" % peak_rss_kb(kefud.pid))
        kefud.send_signal(signal.SIGTERM)
        kefud.wait()
        self.sandbox.send_signal(signal.SIGTERM)
        self.sandbox.wait()


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default=TOP + "/build")
    ap.add_argument("--frames", type=int, default=20000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
        print("kefu link benchmark, %s, %d cores" % (time.strftime("%Y-%m-%d"), os.cpu_count()))
        Bench(os.path.abspath(args.build), tmp).run(args.frames)


if __name__ == "__main__":
    main()
