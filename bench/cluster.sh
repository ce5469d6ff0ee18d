#!/usr/bin/env bash
# Benchmarks the local cluster (make bench-cluster): build time of its binaries, start time to
# usable, memory of each component, time for 1,000 pods to become Ready. Starts its own
# cluster in a temporary state directory and removes it at the end.
#   COLD=1  also time a cold build (empty module and build caches, in a temporary GOMODCACHE
#           and GOCACHE, so your caches stay intact; ~6-13 min, ~5.5 GB of temp disk)
#   PODS=N  pods for the scale test (default 1000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
BIN=$ROOT/.cache/bin
PODS=${PODS:-1000}
NODES=$(( (PODS + 109) / 110 + 1 ))   # 110 pods per node, one spare
TMP=$(mktemp -d /tmp/feastflow-bench-XXXXXX)
STATE=$TMP/state
LC=$TMP/localcluster
cleanup() {
  [ -x "$LC" ] && "$LC" down --state "$STATE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
declare -a ROWS
row() { ROWS+=("$(printf '%-44s %12s  %s' "$1" "$2" "${3:-}")"); }

# rss STATE LABEL: one row per component with its resident memory.
rss() {
  local name pid
  while read -r name pid; do
    if [ -r "/proc/$pid/status" ]; then
      row "RSS $name ($2)" "$(awk '/^VmRSS/ { printf "%d MiB", $2 / 1024 }' "/proc/$pid/status")"
    fi
  done < <(awk -F'"' '/"name"/ { n = $4 } /"pid"/ { gsub(/[^0-9]/, "", $3); print n, $3 }' "$1/pids.json")
}

echo "bench-cluster: build check" >&2
t=$(now); hack/build-cluster-bins.sh "$BIN" >/dev/null 2>&1; row "build check, binaries up to date" "$(since "$t")s" "hack/build-cluster-bins.sh"
if [ "${COLD:-}" = 1 ]; then
  echo "bench-cluster: cold build (temporary caches) ..." >&2
  t=$(now)
  GOMODCACHE=$TMP/gomod GOCACHE=$TMP/gocache hack/build-cluster-bins.sh "$TMP/bin" >/dev/null 2>&1
  row "cold build, empty caches (measured now)" "$(since "$t")s"
  chmod -R u+w "$TMP/gomod" 2>/dev/null || true
else
  row "cold build, empty caches (recorded)" "$(sed -n 's/^cold_build_seconds=//p' bench/cluster-cold-build.txt)s" "bench/cluster-cold-build.txt; COLD=1 to re-measure"
fi

go build -o "$LC" ./hack/localcluster
echo "bench-cluster: starting a cluster with $NODES nodes in $STATE" >&2
t=$(now); "$LC" up --bin "$BIN" --state "$STATE" --nodes "$NODES" >/dev/null 2>"$TMP/up1.log"
row "start to usable, fresh state (new PKI)" "$(since "$t")s" "goal <= 10 s"
"$LC" down --state "$STATE" >/dev/null 2>&1
t=$(now); "$LC" up --bin "$BIN" --state "$STATE" --nodes "$NODES" >/dev/null 2>"$TMP/up2.log"
row "start to usable, warm (PKI and etcd kept)" "$(since "$t")s" "goal <= 10 s"
rss "$STATE" "idle"

export KUBECONFIG=$STATE/kubeconfig
K=$BIN/kubectl; [ -x "$K" ] || K=kubectl
$K create namespace scale >/dev/null
# Pods need the namespace's default ServiceAccount, created by the controller-manager.
until $K -n scale get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done
echo "bench-cluster: $PODS pods ..." >&2
t=$(now)
$K -n scale create deployment big --image=ghcr.io/feastflow/backend:1.4.0 --replicas="$PODS" >/dev/null
# kubectl wait watches the Deployment: the figure is not quantized by a poll interval.
$K -n scale wait --for=jsonpath='{.status.readyReplicas}'="$PODS" deployment/big --timeout=600s >/dev/null
row "$PODS pods Ready (one Deployment, $NODES nodes)" "$(since "$t")s" "create -> readyReplicas=$PODS"
rss "$STATE" "after $PODS pods"

printf '\n%-44s %12s  %s\n' "MEASURE" "VALUE" "NOTE"
printf '%s\n' "${ROWS[@]}"
