#!/usr/bin/python3
"""Scores the example configuration on the labelled sets (make eval).

tests/eval/escalate.tsv: see escalation() below.
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


def load(name):
    return [l.rstrip("\n").split("\t", 1) for l in open(TOP + "/tests/eval/" + name)
            if l.strip() and not l.startswith("#")]


def replay(build, rows):
    """Each text in a conversation of its own, after a greeting; the
    decisions on the texts, through kefud --replay."""
    tmp = tempfile.mkdtemp(prefix="kefu-eval-")
    try:
        for f in os.listdir(TOP + "/etc/kefu"):
            if os.path.isfile(TOP + "/etc/kefu/" + f):
                shutil.copy(TOP + "/etc/kefu/" + f, tmp)
        shutil.copytree(TOP + "/etc/kefu/lexicons", tmp + "/lexicons")
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
    return got


ESCALATION = ("bargain", "complaint", "angry", "human_request")


def escalation(build, verbose):
    """Recall per reason (the message was recognised: handed off, or for a
    first bargain the shop's offer) and false escalation on benign lines."""
    rows = load("escalate.tsv")
    got = replay(build, rows)
    n = collections.Counter()
    wrong = []
    for (label, text), r in zip(rows, got):
        reason, action = r.get("reason"), r["action"]
        n[label] += 1
        if label == "none":
            n["none_handoff"] += action == "handoff"
            n["none_flagged"] += reason is not None
            if reason is not None:
                wrong.append((label, text, action, reason))
        else:
            n[label + "_ok"] += reason == label
            if reason != label:
                wrong.append((label, text, action, reason))
    pct = lambda a, b: 100.0 * a / b if b else 0
    print("kefu escalation evaluation: %d messages (%s, %d benign)"
          % (len(rows), ", ".join("%d %s" % (n[l], l) for l in ESCALATION), n["none"]))
    for l in ESCALATION:
        print("recall %-14s %5.1f %%  (%d/%d)" % (l + ":", pct(n[l + "_ok"], n[l]), n[l + "_ok"], n[l]))
    print("false escalation:     %5.1f %%  (%d of %d benign messages handed off)"
          % (pct(n["none_handoff"], n["none"]), n["none_handoff"], n["none"]))
    print("benign flagged:       %5.1f %%  (%d: bargaining words, answered with the offer)"
          % (pct(n["none_flagged"], n["none"]), n["none_flagged"]))
    if verbose:
        for w in wrong:
            print("  %-14s %-24s %-8s %s" % w)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                            else TOP + "/build")
    rows = load("messages.tsv")
    got = replay(build, rows)
    n = collections.Counter()
    wrong = []
    for (label, text), r in zip(rows, got):
        faq, action, plugin = r.get("faq"), r["action"], r.get("plugin")
        # The best candidate is noted even when the FAQ plugin did not
        # answer ("unanswered": its misses in a row).
        answered = action == "reply" and faq is not None and "unanswered" not in r
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
            n["unanswered"] += "unanswered" in r
            n["escalated"] += action == "handoff"
            if answered and faq != label:
                n["confident_wrong"] += 1
            if faq != label or not answered:
                wrong.append((label, text, action, faq))
    total = len(rows)
    pct = lambda a, b: 100.0 * a / b if b else 0
    print("kefu answers evaluation: %d messages (%d FAQ, %d greetings, %d thanks, %d off-topic)"
          % (total, n["faq"], n["greeting"], n["thanks"], n["none"]))
    print("FAQ top-1 accuracy:       %5.1f %%  (%d/%d)" % (pct(n["top1"], n["faq"]), n["top1"], n["faq"]))
    print("FAQ answered correctly:   %5.1f %%  (clarified %d, not understood %d, handed off %d)"
          % (pct(n["answered_ok"], n["faq"]), n["clarified"], n["unanswered"], n["escalated"]))
    print("confident wrong:          %5.1f %%  (%d of all %d messages answered with a wrong entry)"
          % (pct(n["confident_wrong"], total), n["confident_wrong"], total))
    print("off-topic answered:       %5.1f %%  (%d/%d)" % (pct(n["none_answered"], n["none"]), n["none_answered"], n["none"]))
    print("greetings handled:        %5.1f %%, thanks %5.1f %%"
          % (pct(n["greeting_ok"], n["greeting"]), pct(n["thanks_ok"], n["thanks"])))
    if "-v" in sys.argv:
        for w in wrong:
            print("  %-14s %-24s %-8s %s" % w)
    print()
    escalation(build, "-v" in sys.argv)


if __name__ == "__main__":
    main()
