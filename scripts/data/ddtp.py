#!/usr/bin/python3
"""Converts Debian's package descriptions (DDTP: the bookworm main Translation-{en,de,fr,it}
indexes and the Packages index, as apt writes them under /var/lib/apt/lists/) into heed's
summarisation, translation and language-model files.

    scripts/data/ddtp.py RAW_DIR OUT_DIR

RAW_DIR holds Packages, Translation-en, Translation-de, Translation-fr, Translation-it
(decompressed). A description is its synopsis (the first line) and its long text (the indented
lines after it; " ." separates paragraphs; lines indented by two or more spaces are verbatim,
such as lists). The long text is joined into one line, paragraphs separated by " ".

The split is by *source package* (sibling packages foo, foo-dev, foo-doc share paragraphs:
../shared/data/README.md): a source goes to test when crc32(source) % 20 == 0, to validation when
it is 1, else to train. A long text seen in train is dropped from validation and test, and every
long text is kept once per split (descriptions shared by several packages).

Writes (standard library only, deterministic), for SPLIT in train, validation, test:
    summarize-SPLIT.jsonl      {"package", "source_package", "source": long text, "target": synopsis}
    translate-en-L-SPLIT.jsonl {"package", "source_package", "unit", "source": English segment,
                                "target": its translation}, L in de, fr, it (same Description-md5);
                               a segment ("unit") is the synopsis or a paragraph (paragraphs only
                               where both sides have as many); a segment seen in train is dropped
                               from validation and test
    lm-SPLIT.txt               the English long texts, one a line
"""
import json
import os
import sys
import zlib

LANGUAGES = ("de", "fr", "it")


def stanzas(path):
    """The RFC 822 stanzas of an apt index as lists of lines."""
    with open(path, encoding="utf-8", errors="replace") as f:
        block = []
        for line in f:
            line = line.rstrip("\n")
            if line == "":
                if block:
                    yield block
                block = []
            else:
                block.append(line)
        if block:
            yield block


def fields(block):
    """Field name -> value; continuation lines (starting with a space) kept, one per element."""
    out, name = {}, None
    for line in block:
        if line.startswith((" ", "\t")) and name:
            out[name].append(line)
        elif ":" in line:
            name, value = line.split(":", 1)
            out[name] = [value.strip()]
    return out


def paragraphs_of(lines):
    """The indented description lines as paragraphs, each one line of text."""
    paragraphs, current = [], []
    for line in lines:
        body = line[1:]
        if body.strip() == ".":
            if current:
                paragraphs.append(" ".join(current))
            current = []
        else:
            current.append(body.strip())
    if current:
        paragraphs.append(" ".join(current))
    return [p.replace("\t", " ") for p in paragraphs if p]


def translations(path, language):
    """(package, md5) -> (synopsis, long text, its paragraphs)."""
    out = {}
    for block in stanzas(path):
        f = fields(block)
        description = f.get("Description-" + language)
        if not description or "Package" not in f or "Description-md5" not in f:
            continue
        paragraphs = paragraphs_of(description[1:])
        out[(f["Package"][0], f["Description-md5"][0])] = (description[0], " ".join(paragraphs), paragraphs)
    return out


def split_of(source):
    bucket = zlib.crc32(source.encode()) % 20
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def main():
    raw, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    source_of = {}
    for block in stanzas(os.path.join(raw, "Packages")):
        f = fields(block)
        if "Package" in f:
            source_of[f["Package"][0]] = f.get("Source", f["Package"])[0].split(" ")[0]
    english = translations(os.path.join(raw, "Translation-en"), "en")
    others = {lang: translations(os.path.join(raw, "Translation-" + lang), lang) for lang in LANGUAGES}
    splits = ("train", "validation", "test")
    rows = {name: {s: [] for s in splits} for name in ["summarize", "lm"] + ["translate-en-" + l for l in LANGUAGES]}
    seen = {name: {s: set() for s in splits} for name in rows}
    train_texts = set()
    train_segments = {lang: set() for lang in LANGUAGES}  # English synopses and paragraphs in train
    keys = sorted(english, key=lambda k: (split_of(source_of.get(k[0], k[0])) != "train", k))  # train first
    for package, md5 in keys:
        synopsis, text, paragraphs = english[(package, md5)]
        if not text or not synopsis:
            continue
        source = source_of.get(package, package)
        split = split_of(source)
        if split == "train":
            train_texts.add(text)
        elif text in train_texts:
            continue

        def add(name, record, key):
            if key in seen[name][split]:
                return
            seen[name][split].add(key)
            rows[name][split].append(record)

        record = {"package": package, "source_package": source}
        add("summarize", dict(record, source=text, target=synopsis), text)
        add("lm", text, text)
        for lang in LANGUAGES:
            translated = others[lang].get((package, md5))
            if not translated:
                continue
            # Segments, as translators wrote them: the synopsis, then the paragraphs when both sides
            # have as many (else the long text's alignment is unknown and only the synopsis is used).
            segments = [("synopsis", synopsis, translated[0])]
            if translated[2] and len(translated[2]) == len(paragraphs):
                segments += [("paragraph", en, tr) for en, tr in zip(paragraphs, translated[2])]
            for unit, en, tr in segments:
                if not en.strip() or not tr.strip():
                    continue
                if split == "train":
                    train_segments[lang].add(en)
                elif en in train_segments[lang]:
                    continue  # boilerplate ("This package contains the development files.") seen in train
                add("translate-en-" + lang, dict(record, unit=unit, source=en, target=tr), en)
    for name, by_split in rows.items():
        for split, records in by_split.items():
            suffix = ".txt" if name == "lm" else ".jsonl"
            path = os.path.join(out_dir, f"{name}-{split}{suffix}")
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                for r in records:
                    f.write((r if name == "lm" else json.dumps(r, ensure_ascii=False)) + "\n")
            os.replace(path + ".tmp", path)
            print(f"ddtp: {path}: {len(records)} records")


if __name__ == "__main__":
    main()
