#!/usr/bin/env bash
# Lints the plugin module with the pinned golangci-lint (hack/tools/lint) and checks that
# `go mod tidy` would change nothing. The linter is built into .cache/tools only when it is
# missing or its wrapper module (the pin) changed.
# usage: hack/lint.sh [golangci-lint run args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=${TOOLS_BIN:-$ROOT/.cache/tools}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
mkdir -p "$TOOLS"

# tool NAME WRAPPER PACKAGE: build PACKAGE from hack/tools/WRAPPER into $TOOLS/NAME when
# the binary is missing or the wrapper's go.mod/go.sum changed since it was built.
tool() {
  local name=$1 wrapper=$2 pkg=$3
  local dir=$ROOT/hack/tools/$wrapper
  local want have=""
  want=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
  [ -f "$TOOLS/.stamp-$name" ] && have=$(cat "$TOOLS/.stamp-$name")
  if [ -x "$TOOLS/$name" ] && [ "$want" = "$have" ]; then
    return
  fi
  echo "lint: building $name from hack/tools/$wrapper (once per pin) ..." >&2
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$TOOLS/$name" "$pkg")
  echo "$want" >"$TOOLS/.stamp-$name"
}

tool golangci-lint lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

cd "$ROOT"
status=0
"$TOOLS/golangci-lint" run --config "$ROOT/.golangci.yml" "$@" ./... || status=1

# go mod tidy must leave go.mod and go.sum as committed (the diff is printed if not).
if ! go mod tidy -diff; then
  echo "lint: go.mod/go.sum are not tidy: run go mod tidy" >&2
  status=1
fi
exit $status
