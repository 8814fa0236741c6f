#!/usr/bin/env bash
# Puts Debian's package descriptions (DDTP), converted for heed, in data/ddtp/: asks apt for the
# bookworm main Translation-{en,de,fr,it} indexes (`apt-get update -o Acquire::Languages=...`,
# as root), copies them with the Packages index into data/ddtp/raw/ at once (a later plain
# `apt-get update` deletes the translations), then scripts/data/ddtp.py writes the splits by
# source package (summarize-*.jsonl, translate-en-{de,fr,it}-*.jsonl, lm-*.txt). Idempotent: does
# nothing when the files are there; fetches nothing when data/ddtp/raw/ is complete. DFSG-free
# package metadata.
set -euo pipefail
cd "$(dirname "$0")/../.."
dst=data/ddtp
outputs=()
for split in train validation test; do
  outputs+=("summarize-$split.jsonl" "lm-$split.txt")
  for lang in de fr it; do outputs+=("translate-en-$lang-$split.jsonl"); done
done
# FORMAT names the layout ddtp.py writes (2: translation pairs are synopses and paragraphs), so
# files an older version wrote are remade rather than taken as done.
format=2
done=1
for f in "${outputs[@]}"; do [ -s "$dst/$f" ] || done=0; done
[ "$(cat "$dst/FORMAT" 2>/dev/null)" = "$format" ] || done=0
if [ $done -eq 1 ]; then
  echo "ddtp: ${#outputs[@]} files in $dst"
  exit 0
fi
command -v python3 >/dev/null || { echo "ddtp: python3 is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dst/raw"
lists=/var/lib/apt/lists
index() {  # the main bookworm index whose name ends in $1, decompressed, into raw/$2
  local file
  file=$(ls "$lists"/*_dists_bookworm_main_"$1"* 2>/dev/null | head -1 || true)
  [ -n "$file" ] || return 1
  /usr/lib/apt/apt-helper cat-file "$file" > "$dst/raw/$2.tmp" && mv "$dst/raw/$2.tmp" "$dst/raw/$2"
}
need=0
for name in Packages Translation-en Translation-de Translation-fr Translation-it; do
  [ -s "$dst/raw/$name" ] || need=1
done
if [ $need -eq 1 ]; then
  if ! ls "$lists"/*_dists_bookworm_main_i18n_Translation-de* >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || { echo "ddtp: the translation indexes are not in $lists; run this as root once (it calls apt-get update -o Acquire::Languages=en,de,fr,it)" >&2; exit 1; }
    echo "ddtp: apt-get update -o Acquire::Languages=en,de,fr,it"
    apt-get update -qq -o Acquire::Languages=en,de,fr,it
  fi
  index binary-amd64_Packages Packages || { echo "ddtp: no bookworm main Packages index in $lists" >&2; exit 1; }
  for lang in en de fr it; do
    index "i18n_Translation-$lang" "Translation-$lang" || { echo "ddtp: no Translation-$lang index in $lists after apt-get update" >&2; exit 1; }
  done
fi
python3 scripts/data/ddtp.py "$dst/raw" "$dst"
echo "$format" > "$dst/FORMAT"
