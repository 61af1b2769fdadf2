#!/usr/bin/env bash
# Short fuzzing run for CI (issue 6, point 5): every Fuzz target in the
# module gets FUZZTIME (default 3s) of `go test -fuzz`. The committed seed
# corpora (f.Add seeds and testdata/fuzz/<Target>/) already run as plain
# tests in `go test ./...`; this step looks for new crashers. A crasher
# makes the step fail; go test writes it to the package's
# testdata/fuzz/<Target>/ so it can be committed as a regression seed once
# the bug is fixed (see docs/fuzzing.md).
#
# Usage: .ci/fuzz.sh [package-pattern]   e.g. .ci/fuzz.sh ./internal/kit/oauth
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-3s}"
pattern="${1:-./...}"

failed=()
n=0
# "import/path dir" for every package with a *_test.go file declaring a
# Fuzz target.
while read -r dir; do
  for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' | sort -u); do
    n=$((n + 1))
    echo "--- fuzz $dir $target ($FUZZTIME)"
    log="/tmp/fuzz-$target.log"
    ok=false
    for attempt in 1 2; do
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s -timeout 5m "./$dir" >"$log" 2>&1; then
        ok=true
        break
      fi
      # go1.26's fuzz coordinator can report the -fuzztime deadline itself
      # as a failure (golang/go#75804, fixed in go1.27): the log then says
      # only "context deadline exceeded" and no input was written. That,
      # and nothing else, is run once more; a real finding always writes
      # "Failing input written to".
      if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' "$log" &&
        ! grep -qE 'Failing input written to|panic:|_test\.go:[0-9]+:' "$log"; then
        echo "    the fuzztime deadline was reported as a failure (golang/go#75804), no input written: running it once more"
        continue
      fi
      break
    done
    if ! $ok; then
      cat "$log"
      failed+=("$dir $target")
    fi
  done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' "$pattern" |
  while read -r d; do
    if grep -lqE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' "$d"/*_test.go 2>/dev/null; then
      realpath --relative-to=. "$d"
    fi
  done)

echo "--- $n fuzz targets run"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  echo "crashers were written to testdata/fuzz/<Target>/ in the package directories" >&2
  exit 1
fi
