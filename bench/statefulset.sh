#!/usr/bin/env bash
# bench/statefulset.sh — StatefulSet release figures, as ratios against kubectl, in one run.
#
#   1. failed image: `kubectl feastflow deploy` (fails fast on the pod) vs `kubectl set image
#      sts` + `kubectl rollout status sts`, which never gives up on a StatefulSet (no progress
#      deadline): it is bounded here by --timeout=${BOUND}s; goal: reported ≤ 5 s after the pod
#      fails (the simulated pod fails at once, so the whole deploy time counts)
#   2. partition canary-step wall time beyond the pods' own readiness delay (the moved pod
#      takes $DELAY s to turn Ready); goal ≤ 1 s overhead; vs the same by hand (kubectl patch
#      partition + kubectl rollout status sts)
#   3. API requests of one canary-step (from -v=6)
#
# It starts its own cluster in a temporary state directory and stops it at the end.
# Usage: bench/statefulset.sh [RUNS]   (make bench-statefulset; needs `make build cluster-bins`)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
BOUND=${BOUND:-20}
DELAY=${DELAY:-2}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_cluster statefulset


sts() { # NAME REPLICAS DELAY
	kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: bench}
spec: {clusterIP: None, selector: {bench: $1}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: $1, namespace: bench}
spec:
  serviceName: $1
  replicas: $2
  selector: {matchLabels: {bench: $1}}
  template:
    metadata: {labels: {bench: $1}, annotations: {sim.feastflow.dev/ready-delay: "$3"}}
    spec: {containers: [{name: db, image: "example/db:1"}]}
YAML
	kubectl -n bench rollout status "sts/$1" --timeout=180s >/dev/null
}

kubectl create namespace bench >/dev/null
sts fail 3 0s
sts step 3 "${DELAY}s"
kubectl get --raw /api >/dev/null # warm kubectl's discovery cache, as on a user's machine
kubectl -n bench get sts >/dev/null

# 1. A missing image.
echo "1/3 failed image (kubectl rollout status sts bounded at ${BOUND}s)" >&2
ff_fail=() k_fail=()
for i in $(seq "$RUNS"); do
	t0=$(now)
	if out=$(kubectl feastflow -n bench deploy fail --image "example/doesnotexist-db:$i" 2>&1); then
		echo "bench: deploy of a missing image succeeded" >&2
		exit 1
	fi
	ff_fail+=($(($(now) - t0)))
	# It must have failed on the pod (the diagnosis), not on anything else.
	grep -qE 'ErrImagePull|ImagePullBackOff' <<<"$out" || { echo "bench: deploy failed without naming the image pull failure: $out" >&2; exit 1; }
	kubectl feastflow -n bench abort fail --yes >/dev/null 2>&1
done
for i in 1; do # kubectl waits until the bound: one run is enough
	t0=$(now)
	kubectl -n bench set image sts/fail "db=example/doesnotexist-db:k$i" >/dev/null
	kubectl -n bench rollout status sts/fail --timeout="${BOUND}s" >/dev/null 2>&1 && { echo "bench: rollout status of a missing image succeeded" >&2; exit 1; }
	k_fail+=($(($(now) - t0)))
done
ffd=$(printf '%s\n' "${ff_fail[@]}" | median)
kd=$(printf '%s\n' "${k_fail[@]}" | median)

# 2. canary-step of 1 of 3 pods beyond the readiness delay, vs the same by hand.
echo "2/3 canary-step with a ${DELAY}s readiness delay" >&2
step_times=() floor_times=()
for i in $(seq "$RUNS"); do
	kubectl feastflow -n bench deploy step --canary --image "example/db:2.$i" >/dev/null 2>&1
	t0=$(now)
	kubectl feastflow -n bench canary-step step --weight 34 >/dev/null 2>&1
	step_times+=($(($(now) - t0)))
	kubectl feastflow -n bench abort step --yes >/dev/null 2>&1
	# The same by hand: stage with partition 3, lower it to 2, wait.
	kubectl -n bench patch sts step --type=merge -p "{\"spec\":{\"updateStrategy\":{\"rollingUpdate\":{\"partition\":3}},\"template\":{\"spec\":{\"containers\":[{\"name\":\"db\",\"image\":\"example/db:3.$i\"}]}}}}" >/dev/null
	t0=$(now)
	kubectl -n bench patch sts step --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}' >/dev/null
	kubectl -n bench rollout status sts/step --timeout=120s >/dev/null
	floor_times+=($(($(now) - t0)))
	kubectl -n bench patch sts step --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}' >/dev/null
	kubectl -n bench rollout status sts/step --timeout=120s >/dev/null
done
stepd=$(printf '%s\n' "${step_times[@]}" | median)
floord=$(printf '%s\n' "${floor_times[@]}" | median)

# 3. requests of one step.
echo "3/3 requests per step" >&2
kubectl feastflow -n bench deploy step --canary --image example/db:9 >/dev/null 2>&1
step_log=$(kubectl feastflow -n bench canary-step step --weight 34 -v=6 2>&1 >/dev/null)
step_requests=$(requests <<<"$step_log")
step_verbs=$(grep -o 'verb="[A-Z]*" url="[^"?]*' <<<"$step_log" | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';')
k_requests=$(( $(kubectl -n bench patch sts step --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}' -v=6 2>&1 >/dev/null | requests) + $(kubectl -n bench rollout status sts/step --timeout=120s -v=6 2>&1 >/dev/null | requests) ))

cat <<REPORT
bench/statefulset: medians, local cluster, $(nproc) cores
  failed image     deploy $(ms "$ffd") ms ($RUNS runs; goal ≤ 5000 ms after the pod fails)
                   vs set image + rollout status sts: still waiting after $(ms "$kd") ms (bounded at ${BOUND}s; unbounded it never returns): ratio ≥ $(ratio "$kd" "$ffd")×
  canary-step      1 of 3 pods (${DELAY}s readiness delay): $(ms "$stepd") ms, $(ms $((stepd - DELAY * 1000000000))) ms beyond the delay
                   by hand (patch partition + rollout status sts): $(ms "$floord") ms, $(ms $((floord - DELAY * 1000000000))) ms beyond the delay (the controller, scheduler and kubelet's share)
                   feastflow's own overhead over by hand: $(ms $((stepd - floord))) ms (goal ≤ 1000 ms); ratio $(ratio "$stepd" "$floord")
  requests         one canary-step: $step_requests (by hand: $k_requests)
                   $step_verbs
REPORT
