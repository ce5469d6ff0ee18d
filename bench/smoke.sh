#!/usr/bin/env bash
# bench/smoke.sh — what the traffic checks cost, in one run against a private local cluster.
#
#   1. `switch --smoke /api/health` vs `switch`, interleaved (load hits both alike), each pod
#      answering in 50 ms (simulated app, docs/local-cluster.md); goal: smoke adds at most one
#      round trip plus the slowest pod's answer before the patch (and one services/proxy GET
#      after it). Also the requests each adds (from -v=6).
#   2. canary-step --analysis: requests per analysis, counted from -v=6, for 4 and 8 pods and
#      for 20 and 400 simulated requests per second per pod; goal: O(pods) small requests per
#      window (two /metrics reads per pod plus one access review), independent of traffic.
#   3. `deploy --smoke /index.html` vs `deploy` of the rolling frontend (2 pods), requests from -v=6 (median
#      of 3 each): the smoke test lists its pods by the template hash the deploy's wait ended
#      on and re-reads the Deployment once after the test; goal: 2 pod LISTs + 1 GET beside
#      the pods/proxy GETs and the access review (it was a GET + a ReplicaSet LIST before each
#      of the 2 pod LISTs).
#
# Usage: bench/smoke.sh [RUNS]   (make bench-smoke; needs `make build cluster-bins`)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-9}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_cluster smoke

bench_feastflow_app
kubectl -n feastflow annotate pod -l app=feastflow-backend sim.feastflow.dev/http-latency=50ms --overwrite >/dev/null

# 1. switch --smoke vs switch.
color=green
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
smoke_req=$(kubectl feastflow -n feastflow switch "$color" feastflow-backend --smoke /api/health -v=6 2>&1 >/dev/null | requests)
[ "$color" = green ] && color=blue || color=green
plain_req=$(kubectl feastflow -n feastflow switch "$color" feastflow-backend -v=6 2>&1 >/dev/null | requests)
ss=$(printf '%s\n' "${smoke_times[@]}" | median)
sp=$(printf '%s\n' "${plain_times[@]}" | median)
pre=$(printf '%s\n' "${pre_ms[@]}" | median)
post=$(printf '%s\n' "${post_ms[@]}" | median)
kpx=$(printf '%s\n' "${proxy_times[@]}" | median)
kv=$(printf '%s\n' "${version_times[@]}" | median)

# 2. analysis requests by pods and traffic (server dry run: nothing is stepped).
canary() { # NAME STABLE_PODS RPS
	cat <<EOF | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Namespace
metadata: {name: $1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1-stable, namespace: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1, track: stable}}
  template:
    metadata: {labels: {app: $1, track: stable}, annotations: {sim.feastflow.dev/http-rps: "$3"}}
    spec: {containers: [{name: app, image: "example/app:1", ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1-canary, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1, track: canary}}
  template:
    metadata: {labels: {app: $1, track: canary}, annotations: {sim.feastflow.dev/http-rps: "$3"}}
    spec: {containers: [{name: app, image: "example/app:2", ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $1}
spec: {selector: {app: $1}, ports: [{name: http, port: 80, targetPort: http}]}
EOF
	kubectl -n "$1" rollout status deploy/"$1"-stable --timeout=120s >/dev/null
	kubectl -n "$1" rollout status deploy/"$1"-canary --timeout=120s >/dev/null
}
analysis_requests() { # NAME → "total metrics-reads access-reviews"
	local log
	log=$(kubectl feastflow -n "$1" canary-step "$1" --analysis --analysis-window 2s --min-requests 1 --dry-run=server -v=6 2>&1 >/dev/null || true)
	echo "$(requests <<<"$log") $(grep '"Response" verb=' <<<"$log" | grep -c '/proxy/metrics' || true) $(grep '"Response" verb=' <<<"$log" | grep -c 'selfsubjectaccessreviews' || true)"
}
canary a4 3 20
canary b4 3 400
canary c8 7 20
read -r a4_total a4_metrics a4_ssar <<<"$(analysis_requests a4)"
read -r b4_total b4_metrics b4_ssar <<<"$(analysis_requests b4)"
read -r c8_total c8_metrics c8_ssar <<<"$(analysis_requests c8)"

# 3. deploy --smoke vs deploy: requests (each run deploys a new image of the frontend).
deploy_requests() { # IMAGE-TAG [--smoke /] → total requests
	kubectl feastflow -n feastflow deploy feastflow-frontend --image "ghcr.io/feastflow/frontend:$1" "${@:2}" -v=6 2>&1 >/dev/null | requests
}
dsmoke=() dplain=()
for i in 1 2 3; do
	dsmoke+=($(deploy_requests "1.5.$i" --smoke /index.html))
	dplain+=($(deploy_requests "1.6.$i"))
done
dsm=$(printf '%s\n' "${dsmoke[@]}" | median)
dpl=$(printf '%s\n' "${dplain[@]}" | median)

cat <<EOF
bench/smoke: medians of $RUNS runs each, local cluster, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)
  switch --smoke          $(ms "$ss") ms   vs switch  $(ms "$sp") ms   ratio $(ratio "$ss" "$sp")   added $(ms $((ss - sp))) ms
                          pre-switch stage (2 pods, parallel) $pre ms; post-switch stage (service) $post ms; app latency 50 ms
                          one proxied GET from kubectl $(ms "$kpx") ms vs GET /version $(ms "$kv") ms
  requests                switch --smoke $smoke_req vs switch $plain_req (added $((smoke_req - plain_req)): 2 pods/proxy GETs + 2 access reviews beside them, 1 services/proxy GET after)
  canary-step --analysis  4 pods, 20 rps/pod:  $a4_total requests, of them $a4_metrics /metrics reads and $a4_ssar access review
                          4 pods, 400 rps/pod: $b4_total requests, of them $b4_metrics /metrics reads and $b4_ssar access review
                          8 pods, 20 rps/pod:  $c8_total requests, of them $c8_metrics /metrics reads and $c8_ssar access review
  requests                deploy --smoke $dsm vs deploy $dpl (added $((dsm - dpl)): 2 pods/proxy GETs + 1 access review beside them, 2 pod LISTs by the waited hash, 1 deployment GET after)
EOF
