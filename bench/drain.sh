#!/usr/bin/env bash
# Benchmarks `kubectl feastflow maintenance drain` against `kubectl drain --ignore-daemonsets
# --delete-emptydir-data` (make bench-drain): a node with 10, 50 and 110 pods, no blocking
# PodDisruptionBudget, on its own local cluster (started in a temporary state directory and
# removed at the end). Per size: median wall time of each over REPEAT runs and their ratio,
# and the API requests each made (the `"Response"` lines of -v=6), against the goal of at
# most pods + 6 for the plugin. kwok deletes a terminating pod at once, so the figures measure
# the clients (eviction fan-out, how they wait), not graceful termination.
#   SIZES="10 50 110"  pods on the drained node
#   REPEAT=3           runs per size and tool (the median is reported)
#   PLUGIN=path        the kubectl-feastflow to test (default bin/kubectl-feastflow, as make builds it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
BIN=$ROOT/.cache/bin
SIZES=${SIZES:-10 50 110}
REPEAT=${REPEAT:-3}
TMP=$(mktemp -d /tmp/feastflow-bench-drain-XXXXXX)
STATE=$TMP/state
LC=$TMP/localcluster
cleanup() {
  [ -x "$LC" ] && "$LC" down --state "$STATE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
requests() { grep -c 'round_trippers.go:[0-9]*\] "Response"' "$1" || true; }

# The plugin under test: $PLUGIN, bin/kubectl-feastflow (make build), else a fresh build.
mkdir -p "$TMP/path"
PLUGIN=${PLUGIN:-bin/kubectl-feastflow}
if [ -x "$PLUGIN" ]; then cp "$PLUGIN" "$TMP/path/kubectl-feastflow"; else CGO_ENABLED=0 go build -o "$TMP/path/kubectl-feastflow" ./cmd/kubectl-feastflow; fi
K=$BIN/kubectl; [ -x "$K" ] || K=$(command -v kubectl)
export PATH=$TMP/path:$(dirname "$K"):$PATH

go build -o "$LC" ./hack/localcluster
echo "bench-drain: starting a 3-node cluster in $STATE" >&2
"$LC" up --bin "$BIN" --state "$STATE" >/dev/null 2>"$TMP/up.log" || { cat "$TMP/up.log" >&2; exit 1; }
export KUBECONFIG=$STATE/kubeconfig
NODE=kwok-node-0
OTHERS=$($K get nodes -o name | grep -v "/$NODE\$" | sed 's#node/##')
$K create namespace bench >/dev/null
until $K -n bench get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done

# place N: N pods of one Deployment (two replicas per ReplicaSet would be the same) on $NODE,
# the other nodes cordoned meanwhile, then schedulable again to receive the evicted pods.
place() {
  local pods=$1 o
  for o in $OTHERS; do $K cordon "$o" >/dev/null; done
  $K -n bench create deployment web --image=registry.local/web:1 --replicas="$pods" >/dev/null
  $K -n bench wait --for=jsonpath='{.status.readyReplicas}'="$pods" deployment/web --timeout=300s >/dev/null
  for o in $OTHERS; do $K uncordon "$o" >/dev/null; done
}
reset() {
  $K uncordon "$NODE" >/dev/null
  $K -n bench delete deployment web --wait=true >/dev/null
  $K -n bench wait --for=delete pod -l app=web --timeout=300s >/dev/null 2>&1 || true
  # forget the plugin's cordon records so every run starts alike
  $K annotate node "$NODE" feastflow.dev/cordoned-by- feastflow.dev/cordoned-at- feastflow.dev/was-unschedulable- \
    feastflow.dev/drain-started-at- feastflow.dev/drain-pods- feastflow.dev/last-operation- >/dev/null 2>&1 || true
}
check_gone() {
  local left
  left=$($K get pods -A --field-selector spec.nodeName="$NODE" --no-headers 2>/dev/null | wc -l)
  [ "$left" -eq 0 ] || { echo "bench-drain: $1 left $left pods on $NODE" >&2; exit 1; }
}

declare -a ROWS
for n in $SIZES; do
  ff_t=() kc_t=() ff_r=0 kc_r=0
  for i in $(seq "$REPEAT"); do
    echo "bench-drain: $n pods, run $i/$REPEAT" >&2
    place "$n"
    t=$(now)
    $K feastflow maintenance drain "$NODE" --ignore-daemonsets --delete-emptydir-data --yes -v=6 >"$TMP/ff.out" 2>"$TMP/ff.log" \
      || { cat "$TMP/ff.log" >&2; exit 1; }
    ff_t+=("$(since "$t")"); ff_r=$(requests "$TMP/ff.log")
    check_gone "kubectl feastflow maintenance drain"
    reset

    place "$n"
    t=$(now)
    $K drain "$NODE" --ignore-daemonsets --delete-emptydir-data -v=6 >"$TMP/kc.out" 2>"$TMP/kc.log" \
      || { cat "$TMP/kc.log" >&2; exit 1; }
    kc_t+=("$(since "$t")"); kc_r=$(requests "$TMP/kc.log")
    check_gone "kubectl drain"
    reset
  done
  ff=$(echo "${ff_t[*]}" | median); kc=$(echo "${kc_t[*]}" | median)
  ratio=$(awk -v a="$ff" -v b="$kc" 'BEGIN { printf "%.2f", a / b }')
  goal=$([ "$n" -le 10 ] && echo "<= 1.0x" || { [ "$n" -ge 110 ] && echo "<= 0.5x" || echo "-"; })
  ROWS+=("$(printf '%5s  %14s  %14s  %6sx  %-8s  %13s  %13s  %s' "$n" "${ff}s" "${kc}s" "$ratio" "$goal" "$ff_r" "$kc_r" "<= $((n + 6))")")
done

printf '\n%5s  %14s  %14s  %7s  %-8s  %13s  %13s  %s\n' "PODS" "FEASTFLOW" "KUBECTL" "RATIO" "GOAL" "FF-REQUESTS" "KC-REQUESTS" "FF-GOAL"
printf '%s\n' "${ROWS[@]}"
echo "(wall time: median of $REPEAT runs; requests: \"Response\" lines of -v=6, last run)"
