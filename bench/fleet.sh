#!/usr/bin/env bash
# Benchmarks the fleet features (make bench-fleet), each against the peer in one run:
#  1. status and diagnose across 3 local clusters (--contexts a,b,c) vs a loop of the same
#     single-cluster commands (--context a; --context b; --context c); goal <= 0.5x the loop.
#  2. a node pool of POOL nodes x PODS_PER_NODE pods drained with --max-unavailable-nodes 3
#     --wait-ready vs a loop of `kubectl drain` over the same nodes; goal <= 0.3x. Each
#     Deployment has a PodDisruptionBudget; a PDB watch checks that currentHealthy never
#     drops below desiredHealthy during either drain.
# Every cluster lives in a temporary state directory and is stopped and removed at the end.
#   REPEAT=3          runs of each command in part 1 (the median is reported)
#   POOL=12 PODS_PER_NODE=30
#   PLUGIN=path       the kubectl-feastflow to test (default bin/kubectl-feastflow)
#   BENCH_TMP=dir     where the state directories go (default /tmp)
#   PARTS="contexts pool"  which parts to run
#   KEEP=dir          copy the drains' logs and PDB watches there
# The clusters are started one after another: three at once on a loaded 2-core machine
# exceeded the start deadline.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
BIN=$ROOT/.cache/bin
REPEAT=${REPEAT:-3}
PARTS=${PARTS:-contexts pool}
POOL=${POOL:-12}
PODS_PER_NODE=${PODS_PER_NODE:-30}
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/feastflow-bench-fleet-XXXXXX")
LC=$TMP/localcluster
STATES=()
cleanup() {
  local s
  for s in "${STATES[@]}"; do [ -x "$LC" ] && "$LC" down --state "$s" >/dev/null 2>&1 || true; done
  [ -n "${WATCH_PID:-}" ] && kill "$WATCH_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

mkdir -p "$TMP/path"
PLUGIN=${PLUGIN:-bin/kubectl-feastflow}
if [ -x "$PLUGIN" ]; then cp "$PLUGIN" "$TMP/path/kubectl-feastflow"; else CGO_ENABLED=0 go build -o "$TMP/path/kubectl-feastflow" ./cmd/kubectl-feastflow; fi
K=$BIN/kubectl; [ -x "$K" ] || K=$(command -v kubectl)
export PATH=$TMP/path:$(dirname "$K"):$PATH
go build -o "$LC" ./hack/localcluster

start() { # start NAME NODES: a cluster in $TMP/NAME (recorded in STATES by the caller)
  local s=$TMP/$1
  "$LC" up --bin "$BIN" --state "$s" --nodes "$2" --timeout 5m >/dev/null 2>"$TMP/$1.up.log" || { cat "$TMP/$1.up.log" >&2; exit 1; }
}

declare -a ROWS
# ---- 1. three clusters -------------------------------------------------------------------
if [[ " $PARTS " == *" contexts "* ]]; then
echo "bench-fleet: starting 3 one-node clusters, one after another" >&2
for n in a b c; do
  STATES+=("$TMP/$n") # before the start: cleanup must know it
  start "$n" 1
done
KC=$TMP/fleet.kubeconfig
for n in a b c; do
  # every cluster's kubeconfig names its cluster, user and context feastflow-local
  sed "s/feastflow-local/$n/g" "$TMP/$n/kubeconfig" >"$TMP/$n.kubeconfig"
done
KUBECONFIG=$TMP/a.kubeconfig:$TMP/b.kubeconfig:$TMP/c.kubeconfig $K config view --flatten >"$KC"
export KUBECONFIG=$KC
for n in a b c; do
  $K --context "$n" create namespace bench >/dev/null
  until $K --context "$n" -n bench get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done
  $K --context "$n" -n bench create deployment web --image=registry.local/web:1 --replicas=3 >/dev/null
  $K --context "$n" -n bench expose deployment web --port=80 --target-port=8080 >/dev/null
  $K --context "$n" -n bench rollout status deployment/web --timeout=300s >/dev/null
done
for verb in status diagnose; do
  f_t=() l_t=()
  for i in $(seq "$REPEAT"); do
    t=$(now)
    $K feastflow "$verb" -n bench --contexts a,b,c >/dev/null 2>&1 || [ $? -eq 3 ]
    f_t+=("$(since "$t")")
    t=$(now)
    for n in a b c; do $K feastflow "$verb" -n bench --context "$n" >/dev/null 2>&1 || [ $? -eq 3 ]; done
    l_t+=("$(since "$t")")
  done
  f=$(echo "${f_t[*]}" | median); l=$(echo "${l_t[*]}" | median)
  ROWS+=("$(printf '%-34s  %9ss  %9ss  %6sx  %s' "$verb --contexts a,b,c" "$f" "$l" "$(ratio "$f" "$l")" "<= 0.5x")")
done
for s in "${STATES[@]}"; do "$LC" down --state "$s" >/dev/null 2>&1 || true; done
STATES=()
fi

# ---- 2. a node pool ----------------------------------------------------------------------
if [[ " $PARTS " == *" pool "* ]]; then
SPARE=4
NODES=$((POOL + SPARE))
echo "bench-fleet: starting a $NODES-node cluster for a pool of $POOL x $PODS_PER_NODE pods" >&2
STATES+=("$TMP/pool")
start pool "$NODES"
export KUBECONFIG=$TMP/pool/kubeconfig
mapfile -t ALL < <($K get nodes -o name | sed 's#node/##' | sort -V)
POOLNODES=("${ALL[@]:0:$POOL}")
SPARENODES=("${ALL[@]:$POOL}")
$K label node "${POOLNODES[@]}" pool=old --overwrite >/dev/null
$K create namespace bench >/dev/null
until $K -n bench get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done
APPS=6
PER_APP=$((POOL * PODS_PER_NODE / APPS))
place() { # the pods on the pool: the spare nodes cordoned while they are created
  $K cordon "${SPARENODES[@]}" >/dev/null
  local a
  for a in $(seq "$APPS"); do
    $K -n bench create deployment "app$a" --image=registry.local/web:1 --replicas="$PER_APP" >/dev/null
    $K -n bench create pdb "app$a" --selector="app=app$a" --min-available=$((PER_APP * 8 / 10)) >/dev/null
  done
  for a in $(seq "$APPS"); do
    $K -n bench wait --for=jsonpath='{.status.readyReplicas}'="$PER_APP" "deployment/app$a" --timeout=600s >/dev/null
  done
  $K uncordon "${SPARENODES[@]}" >/dev/null
}
reset() {
  $K -n bench delete deployment --all --wait=true >/dev/null
  $K -n bench delete pdb --all >/dev/null
  $K -n bench wait --for=delete pod --all --timeout=600s >/dev/null 2>&1 || true
  $K uncordon "${POOLNODES[@]}" >/dev/null
  $K annotate node "${POOLNODES[@]}" feastflow.dev/cordoned-by- feastflow.dev/cordoned-at- feastflow.dev/was-unschedulable- \
    feastflow.dev/drain-started-at- feastflow.dev/drain-pods- feastflow.dev/drain-state- feastflow.dev/last-operation- >/dev/null 2>&1 || true
}
# watch_pdbs FILE: every PDB status change, "name currentHealthy desiredHealthy"
watch_pdbs() {
  $K -n bench get pdb -w --no-headers -o custom-columns=N:.metadata.name,C:.status.currentHealthy,D:.status.desiredHealthy >"$1" 2>/dev/null &
  WATCH_PID=$!
}
# lowest FILE: per PDB, the lowest currentHealthy seen and its desiredHealthy ("app1 48/48 ...")
lowest() {
  awk '$2 != "<none>" && $3 != "<none>" { if (!($1 in m) || $2 + 0 < m[$1]) { m[$1] = $2 + 0; d[$1] = $3 } } END { for (k in m) printf "%s %d/%s\n", k, m[k], d[k] }' "$1" | sort | tr '\n' ' '
}
below() { awk '$2 != "<none>" && $3 != "<none>" && $2 + 0 < $3 + 0 { n++ } END { print n + 0 }' "$1"; }

place
watch_pdbs "$TMP/ff.pdb"
t=$(now)
stamp() { if [ -n "${KEEP:-}" ]; then perl -MTime::HiRes=time -ne 'printf "%.3f %s", time, $_'; else cat; fi; }
$K feastflow maintenance drain -l pool=old --max-unavailable-nodes 3 --wait-ready --ignore-daemonsets --yes --timeout 20m >"$TMP/ff.out" 2> >(stamp >"$TMP/ff.log") \
  || { sleep 1; tail -20 "$TMP/ff.log" >&2; exit 1; }
ff=$(since "$t")
kill "$WATCH_PID" 2>/dev/null || true; WATCH_PID=
ff_below=$(below "$TMP/ff.pdb")
reset

place
watch_pdbs "$TMP/kc.pdb"
t=$(now)
for n in "${POOLNODES[@]}"; do
  $K drain "$n" --ignore-daemonsets --delete-emptydir-data --timeout=20m >/dev/null 2>>"$TMP/kc.log" || { tail -20 "$TMP/kc.log" >&2; exit 1; }
done
kc=$(since "$t")
kill "$WATCH_PID" 2>/dev/null || true; WATCH_PID=
kc_below=$(below "$TMP/kc.pdb")
ROWS+=("$(printf '%-34s  %9ss  %9ss  %6sx  %s' "pool $POOL x $PODS_PER_NODE, 3 at a time" "$ff" "$kc" "$(ratio "$ff" "$kc")" "<= 0.3x")")
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$TMP"/ff.* "$TMP"/kc.* "$KEEP"/ 2>/dev/null || true
fi

printf '\n%-34s  %10s  %10s  %7s  %s\n' "WHAT" "FEASTFLOW" "PEER" "RATIO" "GOAL"
printf '%s\n' "${ROWS[@]}"
echo "peer: a loop of the single-context commands (1), a loop of kubectl drain over the pool (2); median of $REPEAT runs in (1), one run in (2)"
if [[ " $PARTS " == *" pool "* ]]; then
  echo "PDB status updates with currentHealthy < desiredHealthy: feastflow $ff_below, kubectl drain loop $kc_below (goal: 0)"
  echo "lowest currentHealthy seen per PDB (desiredHealthy = the PDB's minimum): feastflow: $(lowest "$TMP/ff.pdb"); kubectl drain loop: $(lowest "$TMP/kc.pdb")"
fi
