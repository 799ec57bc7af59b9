#!/usr/bin/python3
"""Scores the example configuration on the labelled set (make eval).

tests/eval/messages.tsv: label<TAB>text, the label an FAQ id, "greeting",
"thanks", or "none" (off-topic: no answer expected).  Each message gets a
conversation of its own, opened with a greeting that is not scored, and
goes through `kefud --replay` with etc/kefu's configuration: the
daemon's own decisions.  Prints the figures; asserts nothing.

  top-1 accuracy      FAQ messages whose best candidate is the right entry
  answered correctly  FAQ messages answered (not clarified) with it
  confident wrong     messages answered with a wrong entry, of all messages
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else TOP + "/build")
    rows = [l.rstrip("\n").split("\t", 1) for l in open(TOP + "/tests/eval/messages.tsv")
            if l.strip() and not l.startswith("#")]
    tmp = tempfile.mkdtemp(prefix="kefu-eval-")
    try:
        for f in os.listdir(TOP + "/etc/kefu"):
            shutil.copy(TOP + "/etc/kefu/" + f, tmp)
        conf = open(TOP + "/etc/kefu/kefud.conf").read().replace('@include "platform.conf"', "")
        with open(tmp + "/kefud.conf", "w") as f:
            f.write('plugin_dir = "%s/plugins";\nstate_dir = "state";\n%s' % (build, conf))
        lines = []
        for i, (_, text) in enumerate(rows):
            lines.append(json.dumps({"conversation": "e%d" % i, "text": "你好"}, ensure_ascii=False))
            lines.append(json.dumps({"conversation": "e%d" % i, "text": text}, ensure_ascii=False))
        out = subprocess.run([build + "/kefud", "-c", tmp + "/kefud.conf", "--replay", "-"],
                             input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    finally:
        shutil.rmtree(tmp)
    got = [json.loads(l) for l in out.stdout.splitlines()][1::2]
    assert len(got) == len(rows), (len(got), len(rows))

    n = collections.Counter()
    wrong = []
    for (label, text), r in zip(rows, got):
        faq, action, plugin = r.get("faq"), r["action"], r.get("plugin")
        answered = action == "reply" and faq is not None
        if label in ("greeting", "thanks"):
            n[label] += 1
            ok = plugin == "greeting" and faq is None and action == "reply"
            n[label + "_ok"] += ok
            if answered:
                n["confident_wrong"] += 1
            if not ok:
                wrong.append((label, text, action, faq))
        elif label == "none":
            n["none"] += 1
            if answered:
                n["confident_wrong"] += 1
                n["none_answered"] += 1
                wrong.append((label, text, action, faq))
        else:
            n["faq"] += 1
            n["top1"] += faq == label
            n["answered_ok"] += answered and faq == label
            n["clarified"] += action == "clarify"
            n["unanswered"] += action == "none"
            if answered and faq != label:
                n["confident_wrong"] += 1
            if faq != label or not answered:
                wrong.append((label, text, action, faq))
    total = len(rows)
    pct = lambda a, b: 100.0 * a / b if b else 0
    print("kefu answers evaluation: %d messages (%d FAQ, %d greetings, %d thanks, %d off-topic)"
          % (total, n["faq"], n["greeting"], n["thanks"], n["none"]))
    print("FAQ top-1 accuracy:       %5.1f %%  (%d/%d)" % (pct(n["top1"], n["faq"]), n["top1"], n["faq"]))
    print("FAQ answered correctly:   %5.1f %%  (clarified %d, not understood %d)"
          % (pct(n["answered_ok"], n["faq"]), n["clarified"], n["unanswered"]))
    print("confident wrong:          %5.1f %%  (%d of all %d messages answered with a wrong entry)"
          % (pct(n["confident_wrong"], total), n["confident_wrong"], total))
    print("off-topic answered:       %5.1f %%  (%d/%d)" % (pct(n["none_answered"], n["none"]), n["none_answered"], n["none"]))
    print("greetings handled:        %5.1f %%, thanks %5.1f %%"
          % (pct(n["greeting_ok"], n["greeting"]), pct(n["thanks_ok"], n["thanks"])))
    if "-v" in sys.argv:
        for w in wrong:
            print("  %-14s %-24s %-8s %s" % w)


if __name__ == "__main__":
    main()
