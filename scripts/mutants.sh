#!/usr/bin/env bash
# Mutation check: plants each bug of scripts/mutants.py in a copy of the tree, rebuilds, runs the
# suite and reports which survive (docs/testing.md). On demand; about 1-2 minutes per mutant.
exec /usr/bin/python3 "$(dirname "$0")/mutants.py" "$@"
