#!/usr/bin/env bash
# Puts MovieLens ml-latest-small (2016: 671 users, 9,066 movies, 100,004 ratings) in
# data/movielens/ as ratings.csv (userId,movieId,rating,timestamp) and movies.csv
# (movieId,title,year,genres). From ../shared/data/movielens when this machine has it, else
# exported from the `movielens` data frame of Debian's r-cran-dslabs (installed when missing).
# GroupLens research-only terms: data/movielens/README.md. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
dst=data/movielens
shared=${MOVIELENS_SOURCE:-../shared/data/movielens}  # MOVIELENS_SOURCE=none: export from R
mkdir -p "$dst"
if [ -f "$dst/ratings.csv" ] && [ -f "$dst/movies.csv" ]; then
  echo "movielens: $dst holds ratings.csv and movies.csv"
  exit 0
fi
if [ -f "$shared/ratings.csv" ] && [ -f "$shared/movies.csv" ]; then
  cp "$shared/ratings.csv" "$shared/movies.csv" "$dst/"
  [ -f "$shared/README.md" ] && cp "$shared/README.md" "$dst/"
else
  if ! Rscript -e 'library(dslabs)' >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends r-cran-dslabs
  fi
  # Ratings sorted by user, time, then movie; movies by id. UTF-8 needs a UTF-8 locale in R.
  LC_ALL=C.UTF-8 Rscript -e '
    library(dslabs); data(movielens); m <- movielens
    r <- m[order(m$userId, m$timestamp, m$movieId), c("userId", "movieId", "rating", "timestamp")]
    write.csv(r, "'"$dst"'/ratings.tmp", row.names = FALSE, quote = FALSE)
    v <- unique(m[, c("movieId", "title", "year", "genres")]); v <- v[order(v$movieId), ]
    v$title <- as.character(v$title); v$genres <- as.character(v$genres)
    write.csv(v, "'"$dst"'/movies.tmp", row.names = FALSE, fileEncoding = "UTF-8")'
  mv "$dst/ratings.tmp" "$dst/ratings.csv"
  mv "$dst/movies.tmp" "$dst/movies.csv"
  printf '%s\n' "MovieLens ml-latest-small (GroupLens), from Debian's r-cran-dslabs. Research use only;" \
    "no endorsement by the University of Minnesota or GroupLens may be stated or implied; acknowledge" \
    "F. M. Harper and J. A. Konstan, The MovieLens Datasets: History and Context, ACM TiiS 5(4), 2015;" \
    "redistribute only under these terms; no commercial use without GroupLens's permission." > "$dst/README.md"
fi
echo "movielens: $(($(wc -l < "$dst/ratings.csv") - 1)) ratings, $(($(wc -l < "$dst/movies.csv") - 1)) movies in $dst"
