#!/usr/bin/env bash
# bench/switch.sh — blue-green switch and status figures, as ratios against kubectl, in one run.
#
#   1. time from invocation to a verified `kubectl feastflow switch` vs a bare
#      `kubectl patch service` of the selector (the floor: no preflight, no verification);
#      goal ≤ 2×
#      (what `--smoke` adds to a switch is bench/smoke.sh's)
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

bench_feastflow_app

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

# 2. requests of one verified switch.
log=$(kubectl feastflow -n feastflow switch green feastflow-backend -v=6 2>&1 >/dev/null)
switch_requests=$(requests <<<"$log")
discovery=$(grep '"Response" verb=' <<<"$log" | grep -cE 'url="[^"]*/(api|apis)(\?|")|openapi' || true)
verbs=$(grep -o 'verb="[A-Z]*" url="[^"?]*' <<<"$log" | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';')

# 2b. requests of promote, from the same -v=6 lines: after that switch (the record, the
#     re-read before the cut, the scale-down, the record), and with the switch included
#     (a new release deployed to blue, promoted in one command).
verbs_of() { grep -o 'verb="[A-Z]*" url="[^"?]*' | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';'; }
plog=$(kubectl feastflow -n feastflow promote feastflow-backend --scale-down-delay 0s --yes -v=6 2>&1 >/dev/null)
promote_after=$(requests <<<"$plog")
promote_after_verbs=$(verbs_of <<<"$plog")
kubectl feastflow -n feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.6.0 >/dev/null 2>&1
plog=$(kubectl feastflow -n feastflow promote feastflow-backend --scale-down-delay 0s --yes -v=6 2>&1 >/dev/null)
promote_with=$(requests <<<"$plog")
promote_with_verbs=$(verbs_of <<<"$plog")

verdict() { [ "$1" -le "$2" ] && echo ok || echo MISSED; }
switch_goal=$(verdict "$switch_requests" 6)
[ "$discovery" -eq 0 ] || switch_goal=MISSED
promote_goal=$(verdict "$promote_with" $((switch_requests + 3)))

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
status_requests=$(kubectl feastflow -n bench50 status -v=6 2>&1 >/dev/null | requests)
get_requests=$(kubectl -n bench50 get deploy,svc,endpointslices -v=6 2>&1 >/dev/null | requests)

cat <<EOF
bench/switch: medians of $RUNS runs each, local cluster, $(nproc) cores
  switch (verified)       $(ms "$sw") ms   vs kubectl patch service  $(ms "$kp") ms   ratio $(ratio "$sw" "$kp")  (goal ≤ 2)
  switch API requests     $switch_requests (discovery: $discovery)   (goal ≤ 6, zero discovery): $switch_goal
                          $verbs
  promote after a switch  $promote_after requests   $promote_after_verbs
  promote with its switch $promote_with requests   (goal ≤ switch + 3 = $((switch_requests + 3))): $promote_goal
                          $promote_with_verbs
  status, 50 components   $(ms "$st") ms ($status_requests requests)   vs kubectl get deploy,svc,endpointslices  $(ms "$kg") ms ($get_requests requests)   ratio $(ratio "$st" "$kg")  (goal ≤ 1.5)
EOF
