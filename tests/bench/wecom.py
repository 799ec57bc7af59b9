#!/usr/bin/python3
"""kefud through the fake 微信客服 (tests/sandbox/wecom.py): prints figures.

Open-loop arrivals from the fake (`load` command), one message per
customer, a mix of greetings and FAQ questions from the shipped knowledge
base: first-reply latency (from the fake making the message, and sending
its callback, to the fake delivering the reply through send_msg), and the
API calls kefud makes per customer message (gettoken, sync_msg, send_msg,
...), with the pulls and callbacks apart.  The figures assert nothing.

Usage: wecom.py [BUILD_DIR]      (make bench)
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from link import TOP, cpu_us, free_port, wait_for  # noqa: E402
from load import kefud_conf, setup  # noqa: E402

TEXTS = ["你好", "在吗", "几天能到", "发什么快递", "可以发顺丰吗", "怎么退货",
         "退货运费谁出", "能换货吗", "尺码标准吗", "有色差吗", "能开发票吗",
         "有优惠券吗", "会起球吗", "是纯棉的吗", "谢谢", "有大码吗"]


def ctl(tmp, cmd):
    s = socket.socket(socket.AF_UNIX)
    s.connect(tmp + "/ctl")
    s.sendall(json.dumps(cmd, ensure_ascii=False).encode() + b"\n")
    res = json.loads(s.makefile(encoding="utf-8").readline())
    s.close()
    return res


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else TOP + "/build")
    tmp = tempfile.mkdtemp(prefix="kefu-wecom-bench-")
    procs = []
    try:
        setup(tmp, build)  # the CA, the knowledge base, the language layer
        with open(tmp + "/token", "w") as f:
            # As WeCom makes them: a secret of letters, digits, - and _;
            # the EncodingAESKey, 43 characters of base64.
            f.write("%s:%s:%s\n" % (base64.urlsafe_b64encode(os.urandom(30)).decode(),
                                    "cbtoken" + os.urandom(6).hex(),
                                    base64.b64encode(os.urandom(32)).decode().rstrip("=")))
        port, cb = free_port(), free_port()
        kefud_conf(tmp, build, port,
                   'kind = "wechat-kf"; url = "https://localhost:%d/"; '
                   'ca_file = "certs/ca.pem"; token_file = "token"; '
                   'listen = "127.0.0.1:%d"; corp_id = "ww-kefu-sandbox"; '
                   'open_kfid = "wk-sandbox";' % (port, cb))
        open(tmp + "/wecom.log", "w").close()
        fake = subprocess.Popen(
            ["/usr/bin/python3", TOP + "/tests/sandbox/wecom.py", "--port", str(port),
             "--cert", tmp + "/certs/server.pem", "--key", tmp + "/certs/server.key",
             "--token-file", tmp + "/token", "--callback-port", str(cb),
             "--control", tmp + "/ctl", "--action-log", tmp + "/actions.jsonl"],
            stderr=open(tmp + "/wecom.log", "a"))
        procs.append(fake)
        wait_for(tmp + "/wecom.log", "wecom: listening")
        open(tmp + "/kefud.log", "w").close()
        kefud = subprocess.Popen([build + "/kefud", "-c", tmp + "/kefud.conf"],
                                 stderr=open(tmp + "/kefud.log", "a"))
        procs.append(kefud)
        wait_for(tmp + "/kefud.log", "wechat-kf: shop")
        print("kefud through the fake 微信客服, %d cores" % os.cpu_count())
        for rate, secs in ((20, 10), (100, 10)):
            cpu0 = cpu_us(kefud.pid)
            r = ctl(tmp, {"cmd": "load", "rate": rate, "seconds": secs, "texts": TEXTS,
                          "grace": 20})
            cpu = cpu_us(kefud.pid) - cpu0
            print("%5d msgs %4.0f/s  first reply ms p50 %6.2f p90 %6.2f p99 %7.2f max %7.1f"
                  "  API calls/msg %.2f (sync_msg %.2f)  callbacks/msg %.2f"
                  "  CPU %5.0f us/msg  unanswered %d  API connections %d"
                  % (r["sent"], r["sent"] / r["seconds"], r["p50"] or 0, r["p90"] or 0,
                     r["p99"] or 0, r["max"] or 0, r["calls"] / r["sent"],
                     r["pulls"] / r["sent"], r["callbacks"] / r["sent"],
                     cpu / r["sent"], r["unanswered"], r["connections"]))
        kefud.send_signal(signal.SIGTERM)
        kefud.wait()
        fake.send_signal(signal.SIGTERM)
        fake.wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
