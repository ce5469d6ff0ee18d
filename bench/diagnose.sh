#!/usr/bin/env bash
# Benchmarks `kubectl feastflow diagnose -n NS -o json` (make bench-diagnose) against
#   - the floor: `kubectl get $FLOOR_KINDS -n NS -o json` (the reads any diagnosis needs, plus
#     every kind diagnose's analyzers read beyond them — StatefulSets, DaemonSets, Jobs, CronJobs,
#     HPAs, Ingresses, IngressClasses, NetworkPolicies — so that adding analyzers keeps the ratio
#     honest; no analysis), goal: diagnose ≤ 1.5× its wall time and memory;
#   - popeye v0.22.1 (built from its Go module in hack/tools/popeye into .cache/tools, only when
#     missing or re-pinned), goal: diagnose ≥ 3× faster. popeye is a binary of its own; the
#     plugin is measured both as users type it (`kubectl feastflow diagnose`, which adds
#     kubectl's own start, ~0.1 s idle) and run directly like popeye (DIRECT column);
# on its own local cluster (temporary state directory, removed at the end), for namespaces of
# 100, 1000 (and, with SIZES, 5000) pods of which 5 % are broken (crash loops, image pulls,
# config errors, from the cluster's simulation conventions), each Deployment behind a Service.
# Per size: median wall time and peak RSS (/usr/bin/time) over REPEAT runs, their ratios, and
# the API requests of one -v=6 run ("Response" lines; goal for diagnose: kinds + pages + logs,
# independent of the number of pods).
#   SIZES="100 1000"   pods per namespace (SIZES="100 1000 5000" for the large case, ~10 min)
#   REPEAT=3           runs per size and tool
#   POPEYE=0           skip popeye
#   PLUGIN=path        the kubectl-feastflow to test (default bin/kubectl-feastflow, else built)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
BIN=$ROOT/.cache/bin
FLOOR_KINDS=pods,services,endpointslices,events,statefulsets,daemonsets,jobs,cronjobs,horizontalpodautoscalers,ingresses,ingressclasses,networkpolicies
SIZES=${SIZES:-100 1000}
REPEAT=${REPEAT:-3}
POPEYE=${POPEYE:-1}
TMP=$(mktemp -d /tmp/feastflow-bench-diagnose-XXXXXX)
STATE=$TMP/state
LC=$TMP/localcluster
cleanup() {
  [ -x "$LC" ] && "$LC" down --state "$STATE" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
requests() { grep -c 'round_trippers.go:[0-9]*\] "Response"' "$1" || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
[ -x /usr/bin/time ] || { echo "bench-diagnose: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

mkdir -p "$TMP/path"
PLUGIN=${PLUGIN:-bin/kubectl-feastflow}
if [ -x "$PLUGIN" ]; then cp "$PLUGIN" "$TMP/path/kubectl-feastflow"; else CGO_ENABLED=0 go build -o "$TMP/path/kubectl-feastflow" ./cmd/kubectl-feastflow; fi
K=$BIN/kubectl; [ -x "$K" ] || K=$(command -v kubectl)
export PATH=$TMP/path:$(dirname "$K"):$PATH

POPEYE_BIN=""
if [ "$POPEYE" = 1 ]; then
  # shellcheck source=hack/lib/tools.sh
  . "$ROOT/hack/lib/tools.sh"
  if tool popeye popeye github.com/derailed/popeye 2>"$TMP/popeye-build.log"; then
    POPEYE_BIN=$TOOLS/popeye
  else
    echo "bench-diagnose: popeye v0.22.1 does not build here; comparing with the floor only:" >&2
    tail -5 "$TMP/popeye-build.log" >&2
  fi
fi

# Enough simulated capacity for the largest size: 5 nodes × 1100 pods.
go build -o "$LC" ./hack/localcluster
echo "bench-diagnose: starting a 5-node cluster in $STATE" >&2
"$LC" up --bin "$BIN" --state "$STATE" --nodes 5 --node-pods 1100 --node-cpu 1000 --node-memory 4000Gi >/dev/null 2>"$TMP/up.log" \
  || { cat "$TMP/up.log" >&2; exit 1; }
export KUBECONFIG=$STATE/kubeconfig

# manifest NS N: healthy Deployments of up to 50 replicas (95 %), and 5 % broken split over a
# crash-looping, an image-pull and a config-error Deployment; every Deployment has a Service.
manifest() {
  local ns=$1 n=$2 broken healthy i r left name
  broken=$(( (n * 5 + 99) / 100 )); healthy=$(( n - broken ))
  deploy() { # name replicas labels image
    cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $ns}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1$3}}
    spec:
      containers: [{name: app, image: "$4", ports: [{name: http, containerPort: 8080}], resources: {requests: {cpu: 10m, memory: 16Mi}}}]
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $ns}
spec:
  selector: {app: $1}
  ports: [{port: 80, targetPort: http}]
EOF
  }
  i=0; left=$healthy
  while [ "$left" -gt 0 ]; do
    r=$(( left < 50 ? left : 50 )); name=web-$i
    deploy "$name" "$r" "" "registry.local/web:1.0.$i"
    left=$(( left - r )); i=$(( i + 1 ))
  done
  deploy crash $(( broken - 2 * (broken / 3) )) ", sim.feastflow.dev/state: crashloop" "registry.local/api:2.0"
  deploy pull $(( broken / 3 )) "" "registry.local/api:doesnotexist"
  deploy config $(( broken / 3 )) ", sim.feastflow.dev/state: createcontainerconfigerror" "registry.local/api:2.0"
}

# settle NS N: all N pods exist and none is still starting.
settle() {
  local ns=$1 n=$2 have starting
  for _ in $(seq 600); do
    have=$($K -n "$ns" get pods --no-headers 2>/dev/null | wc -l)
    starting=$($K -n "$ns" get pods --no-headers 2>/dev/null | grep -c -E 'Pending|ContainerCreating' || true)
    [ "$have" -ge "$n" ] && [ "$starting" -eq 0 ] && return 0
    sleep 1
  done
  echo "bench-diagnose: $ns did not settle ($have/$n pods, $starting starting)" >&2; exit 1
}

# measure OUT CMD...: runs CMD, appends "seconds maxrss-kB" to OUT; exit codes 0 and 3 are fine.
measure() {
  local out=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >/dev/null 2>"$TMP/stderr" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    echo "bench-diagnose: $* exited $rc" >&2; cat "$TMP/stderr" >&2; exit 1
  fi
  tail -n 1 "$TMP/time" >>"$out" # GNU time puts "Command exited with non-zero status" first
}

declare -a ROWS
for n in $SIZES; do
  ns=bench-$n
  echo "bench-diagnose: $n pods in $ns (5 % broken)" >&2
  $K create namespace "$ns" >/dev/null
  until $K -n "$ns" get serviceaccount default >/dev/null 2>&1; do sleep 0.1; done
  manifest "$ns" "$n" | $K apply -f - >/dev/null
  settle "$ns" "$n"
  : >"$TMP/ff.t"; : >"$TMP/fl.t"; : >"$TMP/pp.t"; : >"$TMP/fd.t"
  for i in $(seq "$REPEAT"); do
    echo "bench-diagnose: $n pods, run $i/$REPEAT" >&2
    measure "$TMP/fl.t" "$K" get "$FLOOR_KINDS" -n "$ns" -o json
    measure "$TMP/ff.t" "$K" feastflow diagnose -n "$ns" -o json
    measure "$TMP/fd.t" "$TMP/path/kubectl-feastflow" diagnose -n "$ns" -o json
    if [ -n "$POPEYE_BIN" ]; then measure "$TMP/pp.t" "$POPEYE_BIN" -n "$ns" --kubeconfig "$KUBECONFIG" -o json --force-exit-zero; fi
  done
  ff_s=$(cut -d' ' -f1 "$TMP/ff.t" | median); ff_m=$(cut -d' ' -f2 "$TMP/ff.t" | median)
  fl_s=$(cut -d' ' -f1 "$TMP/fl.t" | median); fl_m=$(cut -d' ' -f2 "$TMP/fl.t" | median)
  fd_s=$(cut -d' ' -f1 "$TMP/fd.t" | median)
  pp_s=-; pp_x=-; pp_xd=-
  if [ -s "$TMP/pp.t" ]; then
    pp_s=$(cut -d' ' -f1 "$TMP/pp.t" | median)
    pp_x=$(ratio "$pp_s" "$ff_s"); pp_xd=$(ratio "$pp_s" "$fd_s")
  fi
  "$K" feastflow diagnose -n "$ns" -o json -v=6 >"$TMP/ff.json" 2>"$TMP/ff.log" || true
  "$K" get "$FLOOR_KINDS" -n "$ns" -o json -v=6 >/dev/null 2>"$TMP/fl.log"
  findings=$(grep -c '"severity":' "$TMP/ff.json" || true)
  ROWS+=("$(printf '%5s  %8s  %8s  %8s  %6sx  %8s  %6sx  %6sx  %7s  %7s  %6sx  %5s  %5s  %8s' "$n" "${ff_s}s" "${fd_s}s" "${fl_s}s" "$(ratio "$ff_s" "$fl_s")" \
    "${pp_s}s" "$pp_x" "$pp_xd" "$((ff_m / 1024))Mi" "$((fl_m / 1024))Mi" "$(ratio "$ff_m" "$fl_m")" "$(requests "$TMP/ff.log")" "$(requests "$TMP/fl.log")" "$findings")")
  $K delete namespace "$ns" --wait=false >/dev/null
done

printf '\n%5s  %8s  %8s  %8s  %7s  %8s  %7s  %7s  %7s  %7s  %7s  %5s  %5s  %8s\n' PODS DIAGNOSE DIRECT FLOOR "/FLOOR" POPEYE "POPEYE/" "/DIRECT" "FF-RSS" "FL-RSS" "/FLOOR" "FF-RQ" "FL-RQ" FINDINGS
printf '%s\n' "${ROWS[@]}"
echo "(wall time and peak RSS: median of $REPEAT runs; DIAGNOSE through kubectl, DIRECT the plugin binary run as popeye is;"
echo " POPEYE/ = popeye time / diagnose time through kubectl, /DIRECT = over the direct run (goal ≥ 3x);"
echo " /FLOOR goal ≤ 1.5x; RQ = API requests of one -v=6 run: diagnose's are one LIST per kind per 500 items + logs)"
[ -n "$POPEYE_BIN" ] || echo "(popeye: not built here, see above)"
