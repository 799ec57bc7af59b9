#!/usr/bin/python3
"""Scores kefu's answers and hand-offs on labelled sets, per example shop
(make eval).  Prints figures; asserts nothing.

Every shop runs the example configuration as shipped (etc/kefu/), with
only faq.kb pointed at its own knowledge base: the same defaults for every
shop, as a new shop would run it.

  tests/eval/shops/SHOP/messages.tsv   label<TAB>text: a faq id, greeting,
                                       thanks or none
  tests/eval/shops/SHOP/escalate.tsv   label<TAB>text: bargain, complaint,
                                       angry, human_request or none
  tests/eval/shops/SHOP/dialogues.jsonl {"turns": [...], "handoff": N|null,
                                       "reason": ...|null}

The labelled lines were written by people who saw neither the lexicons,
the synonyms nor the cut-offs.  Each set is split by a hash of its text:
two fifths are the development part (looked at while tuning), three fifths
the held-out part, only ever scored.  `score.py BUILD` prints both;
`--dev` only the development part, with its mistakes (-v).

Each message is the first of its own conversation; a dialogue's turns
share one conversation.  Decisions come from `kefud --replay`: the
daemon's own code.
"""
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOPS = {
    "clothing": TOP + "/etc/kefu/faq.conf",
    "cosmetics": TOP + "/etc/kefu/examples/cosmetics/faq.conf",
    "electronics": TOP + "/etc/kefu/examples/electronics/faq.conf",
}
REASONS = ("bargain", "complaint", "angry", "human_request")


def part(text):
    """'dev' for two fifths of the lines, 'heldout' for the rest."""
    return "dev" if int(hashlib.sha1(text.encode()).hexdigest(), 16) % 5 < 2 else "heldout"


def load_tsv(path):
    if not os.path.exists(path):
        return []
    return [l.rstrip("\n").split("\t", 1) for l in open(path, encoding="utf-8")
            if l.strip() and not l.startswith("#")]


def load_dialogues(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


class Shop:
    def __init__(self, build, kb):
        self.tmp = tempfile.mkdtemp(prefix="kefu-eval-")
        for f in os.listdir(TOP + "/etc/kefu"):
            if os.path.isfile(TOP + "/etc/kefu/" + f):
                shutil.copy(TOP + "/etc/kefu/" + f, self.tmp)
        for d in ("lang",):
            shutil.copytree(TOP + "/etc/kefu/" + d, self.tmp + "/" + d)
        shutil.copy(kb, self.tmp + "/faq.conf")
        conf = open(TOP + "/etc/kefu/kefud.conf").read().replace('@include "platform.conf"', "")
        with open(self.tmp + "/kefud.conf", "w") as f:
            f.write('plugin_dir = "%s/plugins";\nstate_dir = "state";\n%s' % (build, conf))
        self.build = build

    def replay(self, convs):
        """convs: lists of texts, each list one conversation.  Returns the
        decisions, in the same shape."""
        lines = []
        for i, texts in enumerate(convs):
            for t in texts:
                lines.append(json.dumps({"conversation": "e%d" % i, "text": t}, ensure_ascii=False))
        out = subprocess.run([self.build + "/kefud", "-c", self.tmp + "/kefud.conf", "--replay", "-"],
                             input="\n".join(lines) + "\n", capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit("kefud --replay failed:\n" + out.stderr)
        got = [json.loads(l) for l in out.stdout.splitlines()]
        res, k = [], 0
        for texts in convs:
            res.append(got[k:k + len(texts)])
            k += len(texts)
        return res

    def close(self):
        shutil.rmtree(self.tmp)


def answered(r):
    return r["action"] == "reply" and r.get("faq") is not None and "unanswered" not in r


def score(shop, which, verbose):
    base = TOP + "/tests/eval/shops/" + shop
    msgs = [(l, t) for l, t in load_tsv(base + "/messages.tsv") if which in (None, part(t))]
    esc = [(l, t) for l, t in load_tsv(base + "/escalate.tsv") if which in (None, part(t))]
    dia = [d for d in load_dialogues(base + "/dialogues.jsonl")
           if which in (None, part("\n".join(d["turns"])))]
    s = Shop(os.path.abspath(sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-")
                             else TOP + "/build"), SHOPS[shop])
    try:
        rows = msgs + esc
        got = [r[0] for r in s.replay([[t] for _, t in rows])]
        dgot = s.replay([d["turns"] for d in dia])
    finally:
        s.close()
    n = collections.Counter()
    wrong = []
    for (label, text), r in zip(rows, got):
        n["all"] += 1
        is_faq = label not in REASONS + ("none", "greeting", "thanks")
        if answered(r) and (not is_faq or r["faq"] != label):
            n["wrong"] += 1
        if label in REASONS:
            n[label] += 1
            n[label + "_ok"] += r.get("reason") == label
            if r.get("reason") != label:
                wrong.append((label, text, r["action"], r.get("reason")))
            continue
        n["benign"] += 1
        if r["action"] == "handoff":
            n["benign_handoff"] += 1
            wrong.append((label, text, "handoff", r.get("reason")))
        if is_faq:
            n["faq"] += 1
            n["top1"] += r.get("faq") == label
            ok = answered(r) and r["faq"] == label
            n["answered_ok"] += ok
            listed = r["action"] == "clarify" and label in r.get("candidates", [])
            n["offered"] += ok or listed
            n["clarified"] += r["action"] == "clarify"
            if not ok and r["action"] != "handoff":
                wrong.append((label, text, r["action"], r.get("faq")))
        elif answered(r) and label != "greeting":
            wrong.append((label, text, "answered", r.get("faq")))
    for d, rs in zip(dia, dgot):
        n["dialogues"] += 1
        at = next((i + 1 for i, r in enumerate(rs) if r["action"] == "handoff"), None)
        reason = rs[at - 1].get("reason") if at else None
        ok = at == d["handoff"] and reason == d["reason"]
        n["dialogues_ok"] += ok
        if not ok:
            wrong.append(("dialogue", " | ".join(d["turns"]), "turn %s %s" % (at, reason),
                          "want %s %s" % (d["handoff"], d["reason"])))
    pct = lambda a, b: "%5.1f %%" % (100.0 * a / b) if b else "    -  "
    print("%s, %s part: %d FAQ questions, %d other lines, %d dialogues"
          % (shop, which or "whole", n["faq"], n["all"] - n["faq"], n["dialogues"]))
    print("  top-1 right entry            %s  (%d/%d)" % (pct(n["top1"], n["faq"]), n["top1"], n["faq"]))
    print("  answered with the right one  %s  (clarified %d)" % (pct(n["answered_ok"], n["faq"]), n["clarified"]))
    print("  right one answered or listed %s" % pct(n["offered"], n["faq"]))
    print("  answered wrong, of all lines %s  (%d of %d)" % (pct(n["wrong"], n["all"]), n["wrong"], n["all"]))
    print("  hand-off recall              " + "  ".join(
        "%s %s" % (l, pct(n[l + "_ok"], n[l]).strip()) for l in REASONS))
    print("  benign lines handed off      %s  (%d of %d)" % (pct(n["benign_handoff"], n["benign"]),
                                                              n["benign_handoff"], n["benign"]))
    print("  dialogues right turn, reason %d/%d" % (n["dialogues_ok"], n["dialogues"]))
    if verbose:
        for w in wrong:
            print("    %-14s %-40s %-10s %s" % w)
    return n


def main():
    verbose = "-v" in sys.argv
    parts = ["dev"] if "--dev" in sys.argv else ["dev", "heldout"]
    shops = [a for a in sys.argv[1:] if a in SHOPS] or list(SHOPS)
    for which in parts:
        for shop in shops:
            score(shop, which, verbose and which == "dev")
        print()


if __name__ == "__main__":
    main()
