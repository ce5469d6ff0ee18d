#!/usr/bin/env bash
# bench-startup: what the plugin costs before it does anything, against kubectl itself.
#   size:   the stripped plugin binary against kubectl's (goal: <= 0.6x)
#   start:  wall time and peak memory (max RSS) of `kubectl-feastflow version` against
#           `kubectl version --client` (goal: <= 0.3x), interleaved runs, and of
#           `kubectl feastflow version` (through kubectl's plugin lookup: what a user waits)
# Needs only bash and Go (bench/startup measures); hyperfine, if installed, cross-checks.
# usage: bench/startup.sh [runs]      (make bench-startup; RUNS=N also works)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
RUNS=${1:-${RUNS:-30}}

PLUGIN=$ROOT/bin/kubectl-feastflow
make -s build >/dev/null # the release build: stripped, -trimpath, CGO off
KUBECTLS=()
for k in "${KUBECTL:-}" /usr/bin/kubectl "$ROOT/.cache/bin/kubectl" "$(command -v kubectl || true)"; do
  [ -n "$k" ] && [ -x "$k" ] || continue
  k=$(readlink -f "$k")
  [[ " ${KUBECTLS[*]} " == *" $k "* ]] || KUBECTLS+=("$k")
done
[ ${#KUBECTLS[@]} -gt 0 ] || { echo "bench-startup: no kubectl found (make cluster-bins builds one)" >&2; exit 1; }

# kubectl reads the kubeconfig even for --client; give every run the same empty one.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/kubeconfig"
export KUBECONFIG=$tmp/kubeconfig
mkdir -p "$tmp/path"
ln -s "$PLUGIN" "$tmp/path/kubectl-feastflow"
export PATH=$tmp/path:$PATH

size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
stripped() {
  if command -v file >/dev/null; then
    file -L "$1" | grep -q 'not stripped' && echo "NOT stripped" || echo "stripped"
  elif go version -m "$1" 2>/dev/null | grep -q -- '-ldflags=.*-s -w'; then
    echo "stripped"
  else
    echo "stripping unknown"
  fi
}
kver() { "$1" version --client 2>/dev/null | sed -n '1s/^Client Version: //p'; }

echo "== size (goal: plugin <= 0.6x kubectl)"
psize=$(size "$PLUGIN")
printf '  %-40s %6s MiB  (%s)\n' "kubectl-feastflow $("$PLUGIN" version | cut -d' ' -f2)" "$(mib "$psize")" "$(stripped "$PLUGIN")"
for k in "${KUBECTLS[@]}"; do
  ks=$(size "$k")
  printf '  %-40s %6s MiB  (%s)  plugin/kubectl = %sx\n' "$k $(kver "$k")" "$(mib "$ks")" "$(stripped "$k")" "$(ratio "$psize" "$ks")"
done

echo
echo "== start: $RUNS interleaved runs each (goal: kubectl-feastflow version <= 0.3x kubectl version --client)"
cases=()
for k in "${KUBECTLS[@]}"; do
  n=kubectl-$(kver "$k")
  cases+=(-case "$n=$k version --client")
done
cases+=(-case "plugin=$PLUGIN version")
cases+=(-case "via-kubectl=${KUBECTLS[0]} feastflow version")
go run ./bench/startup -n "$RUNS" -baseline "kubectl-$(kver "${KUBECTLS[0]}")" "${cases[@]}"

if command -v hyperfine >/dev/null; then
  echo
  echo "== hyperfine cross-check"
  hyperfine -N --warmup 3 --runs "$RUNS" "${KUBECTLS[0]} version --client" "$PLUGIN version" "${KUBECTLS[0]} feastflow version" 2>&1 |
    grep -E 'Benchmark|Time|faster|±' || true
else
  echo "(hyperfine not installed: apt-get install -y hyperfine adds a cross-check)"
fi
