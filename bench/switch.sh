#!/usr/bin/env bash
# bench/switch.sh — blue-green switch and status figures, as ratios against kubectl, in one run.
#
#   1. time from invocation to a verified `kubectl feastflow switch` vs a bare
#      `kubectl patch service` of the selector (the floor: no preflight, no verification);
#      goal ≤ 2×
#   1b. what the smoke test adds: `switch --smoke /api/health` vs `switch`, interleaved, with
#      each pod answering in 50 ms (simulated app, docs/local-cluster.md); goal: the pre-switch
#      test costs at most one round trip plus the slowest pod's answer
#   2. API requests of one verified switch, from -v=6 (goal ≤ 6, zero discovery), and of
#      promote after a switch and with its switch (goal ≤ switch + 3), each printed with
#      its goal and "ok" or "MISSED"
#   3. `kubectl feastflow status` on a namespace of 50 components vs
#      `kubectl get deploy,svc,endpointslices`; goal ≤ 1.5×
#
# It starts its own cluster in a temporary state directory and stops it at the end.
# Usage: bench/switch.sh [RUNS]   (make bench-switch; needs `make build cluster-bins`)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-15}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_cluster switch

kubectl apply -f "$ROOT/examples/feastflow/" >/dev/null
kubectl -n feastflow rollout status deploy/feastflow-backend-blue --timeout=120s >/dev/null
kubectl feastflow -n feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.5.0 >/dev/null 2>&1
kubectl get --raw /api >/dev/null # warm kubectl's discovery cache, as on a user's machine

now() { date +%s%N; }
# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# 1. switch vs kubectl patch, alternating colors so every run really moves traffic.
plugin_times=() patch_times=()
color=green
for _ in $(seq "$RUNS"); do
	t0=$(now)
	kubectl feastflow -n feastflow switch "$color" feastflow-backend >/dev/null 2>&1
	plugin_times+=($(($(now) - t0)))
	[ "$color" = green ] && color=blue || color=green
done
for _ in $(seq "$RUNS"); do
	t0=$(now)
	kubectl -n feastflow patch service feastflow-backend --type=merge -p "{\"spec\":{\"selector\":{\"version\":\"$color\"}}}" >/dev/null
	patch_times+=($(($(now) - t0)))
	[ "$color" = green ] && color=blue || color=green
done
kubectl -n feastflow patch service feastflow-backend --type=merge -p '{"spec":{"selector":{"version":"blue"}}}' >/dev/null
sw=$(printf '%s\n' "${plugin_times[@]}" | median)
kp=$(printf '%s\n' "${patch_times[@]}" | median)

# 1b. switch --smoke vs switch, interleaved so that load hits both alike. The smoke test GETs
# /api/health on both backend pods before the patch and through the Service after it.
kubectl -n feastflow annotate pod -l app=feastflow-backend sim.feastflow.dev/http-latency=50ms --overwrite >/dev/null
smoke_times=() plain_times=() pre_ms=() post_ms=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	out=$(kubectl feastflow -n feastflow switch "$color" feastflow-backend --smoke /api/health 2>/dev/null)
	smoke_times+=($(($(now) - t0)))
	pre_ms+=($(grep -o 'through pods/proxy (slowest [0-9]*ms' <<<"$out" | grep -o '[0-9]*ms' | tr -d ms || echo 0))
	post_ms+=($(grep -o 'through services/proxy (slowest [0-9]*ms' <<<"$out" | grep -o '[0-9]*ms' | tr -d ms || echo 0))
	[ "$color" = green ] && color=blue || color=green
	t0=$(now)
	kubectl feastflow -n feastflow switch "$color" feastflow-backend >/dev/null 2>&1
	plain_times+=($(($(now) - t0)))
	[ "$color" = green ] && color=blue || color=green
done
# One proxied GET from kubectl, against a GET of /version: the proxy's round trip plus the answer.
pod=$(kubectl -n feastflow get pods -l app=feastflow-backend -o jsonpath='{.items[0].metadata.name}')
proxy_times=() version_times=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	kubectl get --raw "/api/v1/namespaces/feastflow/pods/$pod:5000/proxy/api/health" >/dev/null
	proxy_times+=($(($(now) - t0)))
	t0=$(now)
	kubectl get --raw /version >/dev/null
	version_times+=($(($(now) - t0)))
done
kubectl -n feastflow patch service feastflow-backend --type=merge -p '{"spec":{"selector":{"version":"blue"}}}' >/dev/null
ss=$(printf '%s\n' "${smoke_times[@]}" | median)
sp=$(printf '%s\n' "${plain_times[@]}" | median)
pre=$(printf '%s\n' "${pre_ms[@]}" | median)
post=$(printf '%s\n' "${post_ms[@]}" | median)
kpx=$(printf '%s\n' "${proxy_times[@]}" | median)
kv=$(printf '%s\n' "${version_times[@]}" | median)

# 2. requests of one verified switch.
log=$(kubectl feastflow -n feastflow switch green feastflow-backend -v=6 2>&1 >/dev/null)
requests=$(grep -c '"Response" verb=' <<<"$log" || true)
discovery=$(grep '"Response" verb=' <<<"$log" | grep -cE 'url="[^"]*/(api|apis)(\?|")|openapi' || true)
verbs=$(grep -o 'verb="[A-Z]*" url="[^"?]*' <<<"$log" | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';')

# 2b. requests of promote, from the same -v=6 lines: after that switch (the record, the
#     re-read before the cut, the scale-down, the record), and with the switch included
#     (a new release deployed to blue, promoted in one command).
count() { grep -c '"Response" verb=' || true; }
verbs_of() { grep -o 'verb="[A-Z]*" url="[^"?]*' | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';'; }
plog=$(kubectl feastflow -n feastflow promote feastflow-backend --scale-down-delay 0s --yes -v=6 2>&1 >/dev/null)
promote_after=$(count <<<"$plog")
promote_after_verbs=$(verbs_of <<<"$plog")
kubectl feastflow -n feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.6.0 >/dev/null 2>&1
plog=$(kubectl feastflow -n feastflow promote feastflow-backend --scale-down-delay 0s --yes -v=6 2>&1 >/dev/null)
promote_with=$(count <<<"$plog")
promote_with_verbs=$(verbs_of <<<"$plog")

verdict() { [ "$1" -le "$2" ] && echo ok || echo MISSED; }
switch_goal=$(verdict "$requests" 6)
[ "$discovery" -eq 0 ] || switch_goal=MISSED
promote_goal=$(verdict "$promote_with" $((requests + 3)))

# 3. status on 50 components.
{
	echo "apiVersion: v1
kind: Namespace
metadata: {name: bench50}"
	for i in $(seq -w 1 50); do
		cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app$i, namespace: bench50}
spec:
  replicas: 2
  selector: {matchLabels: {app: app$i}}
  template:
    metadata: {labels: {app: app$i}}
    spec: {containers: [{name: app, image: "example/app:1", ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: app$i, namespace: bench50}
spec: {selector: {app: app$i}, ports: [{name: http, port: 80, targetPort: http}]}
EOF
	done
} | kubectl apply -f - >/dev/null
for i in $(seq -w 1 50); do kubectl -n bench50 rollout status deploy/app$i --timeout=120s >/dev/null; done
status_times=() get_times=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	kubectl feastflow -n bench50 status >/dev/null
	status_times+=($(($(now) - t0)))
	t0=$(now)
	kubectl -n bench50 get deploy,svc,endpointslices >/dev/null
	get_times+=($(($(now) - t0)))
done
st=$(printf '%s\n' "${status_times[@]}" | median)
kg=$(printf '%s\n' "${get_times[@]}" | median)
status_requests=$(kubectl feastflow -n bench50 status -v=6 2>&1 >/dev/null | grep -c '"Response" verb=' || true)
get_requests=$(kubectl -n bench50 get deploy,svc,endpointslices -v=6 2>&1 >/dev/null | grep -c '"Response" verb=' || true)

cat <<EOF
bench/switch: medians of $RUNS runs each, local cluster, $(nproc) cores
  switch (verified)       $(ms "$sw") ms   vs kubectl patch service  $(ms "$kp") ms   ratio $(ratio "$sw" "$kp")  (goal ≤ 2)
  switch --smoke          $(ms "$ss") ms   vs switch  $(ms "$sp") ms   ratio $(ratio "$ss" "$sp")   added $(ms $((ss - sp))) ms
                          pre-switch stage (2 pods, parallel) $pre ms, post-switch stage (service) $post ms, app latency 50 ms
                          one proxied GET from kubectl $(ms "$kpx") ms vs GET /version $(ms "$kv") ms: proxy round trip + answer ≈ $(ms $((kpx - kv))) ms beyond a plain round trip
  switch API requests     $requests (discovery: $discovery)   (goal ≤ 6, zero discovery): $switch_goal
                          $verbs
  promote after a switch  $promote_after requests   $promote_after_verbs
  promote with its switch $promote_with requests   (goal ≤ switch + 3 = $((requests + 3))): $promote_goal
                          $promote_with_verbs
  status, 50 components   $(ms "$st") ms ($status_requests requests)   vs kubectl get deploy,svc,endpointslices  $(ms "$kg") ms ($get_requests requests)   ratio $(ratio "$st" "$kg")  (goal ≤ 1.5)
EOF
