#!/usr/bin/env bash
# make bench-scale SCALE=10k|50k|150k — diagnose and status at Kubernetes' own scale.
#
# Builds (or resumes) a private local cluster in the proportions of the scalability thresholds
# (5,000 nodes : 150,000 pods : 10,000 Services): SCALE pods, SCALE/30 kwok nodes, one
# Service + Deployment per 15 pods, 50 components per namespace, 4 % of the components broken
# (missing image, crash loop, unschedulable, Service selector matching nothing; see
# bench/scalegen). Then measures side by side, in one run, interleaved:
#   diagnose  kubectl-feastflow diagnose -A -o json (the plugin binary, run directly like the
#   status    kubectl-feastflow status -A -o json    floor and popeye; see FF below)
#   floor     bench/floor: the same kinds paged with protobuf, 500 per page, in parallel,
#             decoded and discarded (one floor for diagnose's kinds, one for status's)
#   kubectl   kubectl get <diagnose's kinds> -A -o json
#   popeye    popeye -A (hack/tools/popeye), once per run (POPEYE=0 skips it)
# wall time and peak RSS (/usr/bin/time), API requests, and the protobuf bytes the floor read.
# Goals: diagnose and status ≤ 1.3× their floor; popeye ≥ 10× diagnose; diagnose's peak RSS
# ≤ 1.5× the protobuf bytes of its kinds; requests = kinds + pages.
#
#   SCALE=10k       10k (CI-sized: ~6 min on 2 cores), 50k, 150k or a number of pods
#   REPEAT=3        runs per tool (median)
#   POPEYE=1        0 skips popeye. popeye holds the whole cluster in memory (1.2–12 GiB at
#                   10k pods): it, and kubectl get, are stopped when their RSS passes
#                   MAX_RSS_GIB (6), when they run longer than MAX_MINUTES (30), or when the
#                   machine has less than MIN_FREE_GIB (4) GiB available; the report says how
#                   far they got.
#   PREVIOUS=path   another kubectl-feastflow (e.g. built from main before this change):
#                   its `diagnose -A -o json` findings must equal this one's
#   STATE=dir       cluster state (default /tmp/feastflow-bench-scale-$SCALE): kept after the
#                   run (processes stopped) so that a second run, or an interrupted one,
#                   resumes instead of rebuilding; CLEAN=1 removes it at the end.
#   KEEP=1          leave the cluster running at the end (a second run reuses it at once)
#   ONLY=diagnose   measure only diagnose, its floor and the binary idle (no status, kubectl
#                   get or popeye): the RSS figures at any SCALE in a few minutes
#   PODS_PER_NODE=30  pods per kwok node: the thresholds' proportion (150,000 / 5,000) by
#                   default. Scale runs may pack nodes fuller (e.g. 110, Kubernetes' default
#                   node limit: 455 nodes at 50k instead of 1,667); nodes cost the control
#                   plane Lease writes and scheduler work whether pods run or not. Nodes get a
#                   pod capacity of max(110, 1.25 × PODS_PER_NODE). NODES= sets the count outright.
#                   The report names the deviation.
#   NODE_LEASE=240s kwok's node Lease duration (it renews every quarter of it; the
#                   controller-manager's node-monitor grace period follows). The local
#                   cluster's default, 40s, is a write per node every 10 s: 167/s at 1,667
#                   nodes, half a core of this machine while idle. No kind the bench reads
#                   changes with it.
#   SETTLE_CPU=40   before measuring, wait (at most SETTLE_MAX=300 s) until the control plane
#                   uses less than this % of one core over 10 s, or a steady share: a
#                   resumed cluster replays kwok's stages for every pod first
#   WORKERS=32      kwok's stage parallelism and the controller-manager's ReplicaSet and
#                   Deployment syncs (each waits on one API round trip: they, not the CPU,
#                   limit how fast pods start on a loaded machine)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
SCALE=${SCALE:-10k}
case $SCALE in
  *k) PODS=$(( ${SCALE%k} * 1000 )) ;;
  *[!0-9]* | "") echo "bench-scale: SCALE=$SCALE: give 10k, 50k, 150k or a number of pods" >&2; exit 2 ;;
  *) PODS=$SCALE ;;
esac
PODS_PER_NODE=${PODS_PER_NODE:-30}
case $PODS_PER_NODE in *[!0-9]* | "" | 0) echo "bench-scale: PODS_PER_NODE=$PODS_PER_NODE: give a positive number" >&2; exit 2 ;; esac
NODES=${NODES:-$(( (PODS + PODS_PER_NODE - 1) / PODS_PER_NODE ))}
NODE_PODS=$(( PODS_PER_NODE * 5 / 4 )); [ "$NODE_PODS" -lt 110 ] && NODE_PODS=110
NODE_LEASE=${NODE_LEASE:-240s}
REPEAT=${REPEAT:-3}
POPEYE=${POPEYE:-1}
CLEAN=${CLEAN:-0}
KEEP=${KEEP:-0}
WORKERS=${WORKERS:-32}
ONLY=${ONLY:-}
case $ONLY in "" | diagnose) ;; *) echo "bench-scale: ONLY=$ONLY: give diagnose or nothing" >&2; exit 2 ;; esac
[ "$ONLY" = diagnose ] && POPEYE=0
STATE=${STATE:-/tmp/feastflow-bench-scale-$SCALE}
BIN=${FEASTFLOW_BIN:-$ROOT/.cache/bin}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/feastflow-bench-scale-run.XXXXXX")
[ -x /usr/bin/time ] || { echo "bench-scale: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cleanup() {
  [ "$KEEP" = 1 ] || { [ -x "$TMP/localcluster" ] && "$TMP/localcluster" down --state "$STATE" >/dev/null 2>&1; } || true
  [ "$CLEAN" = 1 ] && rm -rf "$STATE"
  rm -rf "$TMP"
}
trap cleanup EXIT

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
requests() { grep -c 'round_trippers.go:[0-9]*\] "Response"' "$1" || true; }

mkdir -p "$TMP/path"
PLUGIN=${FEASTFLOW_PLUGIN:-$ROOT/bin/kubectl-feastflow}
if [ -x "$PLUGIN" ]; then cp "$PLUGIN" "$TMP/path/kubectl-feastflow"; else CGO_ENABLED=0 go build -o "$TMP/path/kubectl-feastflow" ./cmd/kubectl-feastflow; fi
K=$BIN/kubectl; [ -x "$K" ] || K=$(command -v kubectl)
export PATH=$TMP/path:$PATH
# The plugin is run as the floor and popeye are: directly. Through kubectl (`kubectl
# feastflow ...`) it also pays kubectl's own start, ~0.1 s idle, the same at every scale.
FF=$TMP/path/kubectl-feastflow
go build -o "$TMP/localcluster" ./hack/localcluster
go build -o "$TMP/scalegen" ./bench/scalegen
go build -o "$TMP/floor" ./bench/floor
POPEYE_BIN=""
if [ "$POPEYE" = 1 ]; then
  # shellcheck source=hack/lib/tools.sh
  . "$ROOT/hack/lib/tools.sh"
  if tool popeye popeye github.com/derailed/popeye 2>"$TMP/popeye-build.log"; then POPEYE_BIN=$TOOLS/popeye
  else echo "bench-scale: popeye does not build here; skipping it:" >&2; tail -5 "$TMP/popeye-build.log" >&2; fi
fi

POD_CIDR=/16; [ "$PODS" -gt 60000 ] && POD_CIDR=/14
SHAPE="$NODES nodes"
[ "$NODES" -ne $(( (PODS + 29) / 30 )) ] && SHAPE="$NODES nodes (not the thresholds' $(( (PODS + 29) / 30 )): $(( PODS / NODES )) pods per node, capacity $NODE_PODS)"
echo "bench-scale: $PODS pods, $SHAPE, $(( (PODS + 14) / 15 )) Services, node lease $NODE_LEASE; cluster in $STATE" >&2
T0=$SECONDS
"$TMP/localcluster" up --bin "$BIN" --state "$STATE" --nodes "$NODES" --node-pods "$NODE_PODS" --node-lease "$NODE_LEASE" \
  --pod-cidr "$POD_CIDR" --controller-qps 1000 --controller-burst 2000 --workers "$WORKERS" \
  --timeout "$(( 120 + PODS / 100 ))s" >/dev/null 2>"$TMP/up.log" \
  || { cat "$TMP/up.log" >&2; exit 1; }
export KUBECONFIG=$STATE/kubeconfig KUBECACHEDIR=$STATE/kube-cache
"$TMP/scalegen" --pods "$PODS"
BUILD_S=$(( SECONDS - T0 ))

# Memory of each component now that the cluster holds everything.
components_rss() {
  python3 - "$STATE/pids.json" <<'PY'
import json, sys
rec = json.load(open(sys.argv[1]))
parts = []
for p in rec["processes"]:
    try:
        rss = [l for l in open(f"/proc/{p['pid']}/status") if l.startswith("VmRSS")][0].split()[1]
        parts.append(f"{p['name']} {int(rss) // 1024}Mi")
    except OSError:
        parts.append(f"{p['name']} ?")
print(", ".join(parts))
PY
}
COMPONENTS=$(components_rss)

# A resumed cluster is busy for a while: kwok re-plays its stages for every pod, the
# controllers resync. Measuring then would time the tools against that. Wait (at most
# SETTLE_MAX seconds, 300) until the control plane's processes together use less than
# SETTLE_CPU (40) % of one core over 10 s, or the same (within 10 points) over two windows
# running (at 50k pods kwok alone keeps using ~1.2 cores); the report says how busy.
settle_cpu() {
  python3 - "$STATE/pids.json" "${SETTLE_CPU:-40}" "${SETTLE_MAX:-300}" <<'PY'
import json, os, sys, time
pids = [p["pid"] for p in json.load(open(sys.argv[1]))["processes"]]
goal, deadline = float(sys.argv[2]), time.time() + float(sys.argv[3])
tick = os.sysconf("SC_CLK_TCK")
def ticks():
    total = 0
    for pid in pids:
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total
t0, prev = time.time(), None
while True:
    a = ticks(); time.sleep(10); pct = (ticks() - a) * 100 / tick / 10
    steady = prev is not None and abs(pct - prev) < 10
    if pct < goal or steady or time.time() > deadline:
        print(f"{pct:.0f}% of a core after {time.time() - t0:.0f}s" + (" (steady)" if steady and pct >= goal else ""))
        break
    prev = pct
PY
}
CONTROL_CPU=$(settle_cpu)

# Every kind diagnose -A reads (pkg/troubleshoot snapshot.go and snapshot_more.go).
DIAG_KINDS=pods,events,nodes,services,endpointslices,persistentvolumeclaims,persistentvolumes,storageclasses,replicasets,deployments,poddisruptionbudgets,resourcequotas,serviceaccounts,configmaps,secrets,statefulsets,daemonsets,jobs,cronjobs,horizontalpodautoscalers,ingresses,ingressclasses,networkpolicies
NDIAG=$(tr ',' '\n' <<<"$DIAG_KINDS" | wc -l)
# Every kind status -A reads (pkg/strategy/status_all.go): ControllerRevisions and nodes
# only when a DaemonSet exists, as status does.
STATUS_KINDS=services,deployments,statefulsets,daemonsets,pods,horizontalpodautoscalers,namespaces
if [ -n "$("$K" get daemonsets -A -o name --chunk-size=1 2>/dev/null | head -1)" ]; then
  STATUS_KINDS=$STATUS_KINDS,controllerrevisions,nodes
fi
NSTATUS=$(tr ',' '\n' <<<"$STATUS_KINDS" | wc -l)

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$TMP/$2.out"; }

# measure NAME CMD...: appends "seconds maxrss-kB" to $TMP/NAME.t; exit codes 0 and 3 are fine.
measure() {
  local name=$1 rc=0; shift
  /usr/bin/time -f '%e %M' -o "$TMP/time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    [ -s "$TMP/$name.stopped" ] && return 0
    echo "bench-scale: $* exited $rc" >&2; tail -5 "$TMP/$name.err" >&2; exit 1
  fi
  tail -n 1 "$TMP/time" >>"$TMP/$name.t"
}
# pair A B: appends A's last wall time over B's (same run, back to back) to $TMP/A-B.r. The
# ratios are taken per run and their median reported: load that hits one run hits both.
pair() { ratio "$(tail -n 1 "$TMP/$1.t" | cut -d' ' -f1)" "$(tail -n 1 "$TMP/$2.t" | cut -d' ' -f1)" >>"$TMP/$1-$2.r"; echo >>"$TMP/$1-$2.r"; }
# guarded NAME CMD...: measure NAME CMD, stopping CMD (only the process this script started,
# found by its exact command line) when the machine's available memory falls below
# MIN_FREE_GIB; $TMP/NAME.stopped then says when and at what RSS. kubectl get and popeye hold
# the whole cluster in memory (1.3 and 1.9 GiB at 10k pods).
MIN_FREE_GIB=${MIN_FREE_GIB:-4}
MAX_RSS_GIB=${MAX_RSS_GIB:-6}
MAX_MINUTES=${MAX_MINUTES:-30}
guarded() {
  local name=$1 cmd
  shift
  cmd="$*"
  (
    while sleep 1; do
      pid=$(pgrep -f -x -- "$cmd" | head -1) || continue
      avail=$(awk '/MemAvailable/ { print int($2 / 1048576) }' /proc/meminfo)
      rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status" 2>/dev/null) || continue
      [ -n "$rss" ] || continue # exited between pgrep and the read
      secs=$(ps -o etimes= -p "$pid" | tr -d ' ')
      why=""
      if [ "$avail" -lt "$MIN_FREE_GIB" ]; then why="the machine had ${avail} GiB available"
      elif [ "$rss" -gt $(( MAX_RSS_GIB * 1024 )) ]; then why="did not finish within MAX_RSS_GIB=${MAX_RSS_GIB} GiB"
      elif [ "${secs:-0}" -gt $(( MAX_MINUTES * 60 )) ]; then why="did not finish within MAX_MINUTES=${MAX_MINUTES} min"
      fi
      if [ -n "$why" ]; then
        echo "stopped after ${secs}s at ${rss}Mi RSS: $why" >"$TMP/$name.stopped"
        kill "$pid"
        exit 0
      fi
    done
  ) &
  local guard=$!
  measure "$name" "$@"
  kill "$guard" 2>/dev/null || true
  wait "$guard" 2>/dev/null || true
}
for i in $(seq "$REPEAT"); do
  echo "bench-scale: run $i/$REPEAT" >&2
  measure dfloor "$TMP/floor" --kinds "$DIAG_KINDS"
  measure diagnose "$FF" diagnose -A -o json
  # The binary alone (its pages, the runtime, package inits): the part of diagnose's peak
  # RSS that does not grow with the cluster.
  measure idle "$FF" version
  pair diagnose dfloor
  if [ "$ONLY" != diagnose ]; then
    measure sfloor "$TMP/floor" --kinds "$STATUS_KINDS"
    measure status "$FF" status -A -o json
    [ -s "$TMP/kubectl.stopped" ] || guarded kubectl "$K" get "$DIAG_KINDS" -A -o json
    pair status sfloor
    [ -s "$TMP/kubectl.stopped" ] || pair kubectl diagnose
  fi
  m=$(tail -n 1 "$TMP/diagnose.t" | cut -d' ' -f2) idle=$(tail -n 1 "$TMP/idle.t" | cut -d' ' -f2)
  awk -v m="$m" -v b="$(field bytes dfloor)" 'BEGIN { printf "%.2f\n", m * 1024 / b }' >>"$TMP/rss.r"
  awk -v m="$m" -v i="$idle" -v b="$(field bytes dfloor)" 'BEGIN { printf "%.2f\n", (m - i) * 1024 / b }' >>"$TMP/slope.r"
done
if [ -n "$POPEYE_BIN" ]; then
  echo "bench-scale: popeye" >&2
  guarded popeye "$POPEYE_BIN" -A --kubeconfig "$KUBECONFIG" -o json --force-exit-zero
fi
# Requests and bytes: one -v=6 run each; the floor prints its own.
"$FF" diagnose -A -o json -v=6 >"$TMP/diag.json" 2>"$TMP/diag.log" || true
[ "$ONLY" = diagnose ] || "$FF" status -A -o json -v=6 >/dev/null 2>"$TMP/status.log" || true
if [ -s "$TMP/kubectl.stopped" ] || [ "$ONLY" = diagnose ]; then : >"$TMP/kubectl.log"; else "$K" get "$DIAG_KINDS" -A -o json -v=6 >/dev/null 2>"$TMP/kubectl.log"; fi
SAME=""
if [ -n "${PREVIOUS:-}" ]; then
  "$PREVIOUS" diagnose -A -o json >"$TMP/prev.json" 2>/dev/null || true
  SAME=$(python3 - "$TMP/prev.json" "$TMP/diag.json" <<'PY'
import json, sys
a, b = (json.load(open(f))["findings"] for f in sys.argv[1:])
# Crash loops keep crashing between the two runs: restart counts, event counts and ages
# move. Compare each finding's identity and text with the numbers masked.
import re
def norm(fs):
    m = lambda v: re.sub(r"[0-9]+", "#", json.dumps(v, sort_keys=True))
    return [m([f["severity"], f["confidence"], f["category"], f["object"], f.get("pods"), f["cause"], f.get("details"), f.get("fix")]) for f in fs]
na, nb = norm(a), norm(b)
print(f"identical ({len(b)} findings)" if na == nb else f"DIFFERENT: previous {len(a)}, this {len(b)} findings, {sum(x != y for x, y in zip(na, nb))} differ")
PY
)
fi

row() { # name floor-name requests
  local s m
  s=$(cut -d' ' -f1 "$TMP/$1.t" | median); m=$(cut -d' ' -f2 "$TMP/$1.t" | median)
  printf '%-9s %8ss %8sMi %s\n' "$1" "$s" "$((m / 1024))" "$3"
  eval "${1}_s=$s; ${1}_m=$m"
}
logreqs() { grep 'round_trippers.go:[0-9]*\] "Response"' "$1" | grep -c '/log?' || true; }
rmed() { median <"$TMP/$1.r"; }
echo
echo "bench-scale: $PODS pods, $SHAPE, $(( (PODS + 14) / 15 )) Services, 4 % of components broken, node lease $NODE_LEASE; built/resumed in ${BUILD_S}s"
echo "cluster memory: $COMPONENTS"
echo "control plane before measuring: $CONTROL_CPU (SETTLE_CPU=${SETTLE_CPU:-40})"
printf '%-9s %9s %10s %s\n' TOOL WALL PEAK-RSS REQUESTS
DREQ=$(requests "$TMP/diag.log"); DLOGS=$(logreqs "$TMP/diag.log")
row dfloor dfloor "$(field requests dfloor) (kinds $NDIAG, items $(field items dfloor), protobuf $(( $(field bytes dfloor) / 1048576 ))Mi)"
row diagnose dfloor "$DREQ = $((DREQ - DLOGS)) LISTs + $DLOGS previous logs (findings $(grep -c '"severity":' "$TMP/diag.json" || true))"
row idle idle "- (kubectl-feastflow version: the binary alone)"
if [ "$ONLY" != diagnose ]; then
  row sfloor sfloor "$(field requests sfloor) (kinds $NSTATUS, items $(field items sfloor), protobuf $(( $(field bytes sfloor) / 1048576 ))Mi)"
  row status sfloor "$(requests "$TMP/status.log")"
fi
[ -s "$TMP/kubectl.t" ] && row kubectl dfloor "$(requests "$TMP/kubectl.log")"
popeye_s=""
if [ -s "$TMP/popeye.stopped" ]; then echo "popeye    $(cat "$TMP/popeye.stopped")"
elif [ -s "$TMP/popeye.t" ]; then row popeye dfloor "-"; fi
# popeye goes on when a LIST fails (its client times out on large lists) and reports what it
# did read: a fast popeye may not have read the cluster at all.
POPEYE_ERRS=$(grep -c 'context deadline exceeded\|request canceled\|Unexpected error' "$TMP/popeye.err" 2>/dev/null || true)
[ "${POPEYE_ERRS:-0}" -gt 0 ] && echo "popeye    $POPEYE_ERRS read errors in its log (client timeouts): its report covers only what it read, its time is no comparison"
[ -s "$TMP/kubectl.stopped" ] && echo "kubectl   $(cat "$TMP/kubectl.stopped")"
echo
echo "diagnose / floor:      $(rmed diagnose-dfloor)x wall   (goal ≤ 1.3)"
[ "$ONLY" = diagnose ] || echo "status / floor:        $(rmed status-sfloor)x wall   (goal ≤ 1.3)"
[ -n "$popeye_s" ] && echo "popeye / diagnose:     $(ratio "$popeye_s" "$diagnose_s")x wall   (goal ≥ 10)"
[ -s "$TMP/kubectl-diagnose.r" ] && echo "kubectl / diagnose:    $(rmed kubectl-diagnose)x wall"
echo "diagnose RSS / bytes:  $(rmed rss)x          (goal ≤ 1.5; peak RSS over the protobuf bytes of its kinds)"
echo "  without the binary:  $(rmed slope)x          ((peak RSS - idle RSS) / protobuf bytes: what grows with the cluster)"
echo "diagnose LISTs:        $((DREQ - DLOGS)), floor $(field requests dfloor)       (goal: kinds + pages, the floor's count)"
[ -n "$SAME" ] && echo "findings vs $PREVIOUS: $SAME"
echo "(ratios: median over $REPEAT runs of each run's pair, measured back to back; wall and RSS"
echo " columns: medians; popeye: one run, over diagnose's median; requests: one -v=6 run, the"
echo " floor's counted by its transport; diagnose and status run directly, not through kubectl)"
