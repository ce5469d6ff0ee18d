#!/usr/bin/env bash
# Lints the plugin module with the pinned golangci-lint (hack/tools/lint, config
# .golangci.yml) and checks that `go mod tidy` would change nothing. The linter is built into
# .cache/tools only when it is missing or re-pinned.
# usage: hack/lint.sh [golangci-lint run args...]   (e.g. hack/lint.sh --fix)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib/tools.sh
. "$ROOT/hack/lib/tools.sh"

tool golangci-lint lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

cd "$ROOT"
status=0
"$TOOLS/golangci-lint" run --config "$ROOT/.golangci.yml" "$@" ./... || status=1

# go.mod and go.sum must be as `go mod tidy` leaves them (the diff is printed if not).
if ! go mod tidy -diff; then
  echo "lint: go.mod/go.sum are not tidy: run go mod tidy" >&2
  status=1
fi
exit $status
