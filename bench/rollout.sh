#!/usr/bin/env bash
# bench/rollout.sh — rolling and canary figures, as ratios against kubectl, in one run.
#
#   1. time to report a failed image: `kubectl feastflow deploy` vs `kubectl set image` +
#      `kubectl rollout status`. kubectl only gives up at the progress deadline (600 s by
#      default): the bench Deployment uses progressDeadlineSeconds=$DEADLINE so the run stays
#      short, and the ratio with the default deadline is extrapolated by adding the 600 − $DEADLINE
#      seconds kubectl would have waited more; goal ≥ 50× with the default
#   2. canary-step wall time beyond the pods' own readiness delay (the canary pods take
#      $DELAY to turn Ready); goal ≤ 1 s overhead
#   3. rollback vs `kubectl rollout undo` + `kubectl rollout status`: time (goal ≤ 1.2×) and
#      API requests counted from both sides' -v=6 request lines (goal ≤ kubectl's + 2: the
#      plugin also resolves the component, checks the deployment window and records an
#      Event), each request listed
#
# It starts its own cluster in a temporary state directory and stops it at the end.
# Usage: bench/rollout.sh [RUNS]   (make bench-rollout; needs `make build cluster-bins`)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
DEADLINE=${DEADLINE:-10}
DELAY=${DELAY:-2}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_cluster rollout


kubectl create namespace bench >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: bench}
spec:
  replicas: 3
  progressDeadlineSeconds: $DEADLINE
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "example/web:1", ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bench}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}
EOF
kubectl -n bench rollout status deploy/web --timeout=120s >/dev/null
kubectl get --raw /api >/dev/null # warm kubectl's discovery cache, as on a user's machine
kubectl -n bench get deploy >/dev/null

good() { # back to a good image, rolled out
	kubectl -n bench set image deploy/web "web=example/web:$1" >/dev/null
	kubectl -n bench rollout status deploy/web --timeout=120s >/dev/null
}

# 1. A missing image.
echo "1/3 failed image (kubectl waits for progressDeadlineSeconds=$DEADLINE)" >&2
ff_fail=() k_fail=()
for i in $(seq "$RUNS"); do
	good "1.$i"
	t0=$(now)
	kubectl feastflow -n bench deploy web --image "example/doesnotexist-web:$i" >/dev/null 2>&1 && { echo "bench: deploy of a missing image succeeded" >&2; exit 1; }
	ff_fail+=($(($(now) - t0)))
done
for i in $(seq 2); do # kubectl waits the whole deadline: two runs are enough
	good "2.$i"
	t0=$(now)
	kubectl -n bench set image deploy/web "web=example/doesnotexist-web:k$i" >/dev/null
	kubectl -n bench rollout status deploy/web --timeout=900s >/dev/null 2>&1 && { echo "bench: rollout status of a missing image succeeded" >&2; exit 1; }
	k_fail+=($(($(now) - t0)))
done
ffd=$(printf '%s\n' "${ff_fail[@]}" | median)
kd=$(printf '%s\n' "${k_fail[@]}" | median)
kd600=$((kd + (600 - DEADLINE) * 1000000000))

# 2. canary-step beyond the readiness delay: stable 9 + canary 1 → 50 % (4 new canary pods,
# each Ready $DELAY s after it starts).
echo "2/3 canary-step with a ${DELAY}s readiness delay" >&2
kubectl apply -f "$ROOT/examples/feastflow-canary/" >/dev/null
kubectl -n feastflow-canary patch deploy feastflow-backend-canary --type=merge -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"sim.feastflow.dev/ready-delay\":\"${DELAY}s\"}}}}}" >/dev/null
kubectl -n feastflow-canary rollout status deploy/feastflow-backend-stable --timeout=120s >/dev/null
kubectl -n feastflow-canary rollout status deploy/feastflow-backend-canary --timeout=120s >/dev/null
step_times=() floor_times=()
for _ in $(seq "$RUNS"); do
	t0=$(now)
	kubectl feastflow -n feastflow-canary canary-step feastflow-backend --weight 50 >/dev/null 2>&1
	step_times+=($(($(now) - t0)))
	kubectl feastflow -n feastflow-canary canary-step feastflow-backend --weight 10 --force >/dev/null 2>&1
	# The same change by hand: scale the canary, wait for it, scale stable down.
	t0=$(now)
	kubectl -n feastflow-canary scale deploy/feastflow-backend-canary --replicas=5 >/dev/null
	kubectl -n feastflow-canary rollout status deploy/feastflow-backend-canary --timeout=120s >/dev/null
	kubectl -n feastflow-canary scale deploy/feastflow-backend-stable --replicas=5 >/dev/null
	floor_times+=($(($(now) - t0)))
	kubectl -n feastflow-canary scale deploy/feastflow-backend-stable --replicas=9 >/dev/null
	kubectl -n feastflow-canary rollout status deploy/feastflow-backend-stable --timeout=120s >/dev/null
	kubectl -n feastflow-canary scale deploy/feastflow-backend-canary --replicas=1 >/dev/null
	kubectl -n feastflow-canary annotate svc feastflow-backend feastflow.dev/canary-weight=10 --overwrite >/dev/null
done
stepd=$(printf '%s\n' "${step_times[@]}" | median)
floord=$(printf '%s\n' "${floor_times[@]}" | median)
step_requests=$(kubectl feastflow -n feastflow-canary canary-step feastflow-backend --weight 50 -v=6 2>&1 >/dev/null | requests)

# 3. rollback vs rollout undo + rollout status.
echo "3/3 rollback" >&2
rb=() ku=()
for i in $(seq "$RUNS"); do
	good "3.$i"
	good "4.$i"
	t0=$(now)
	kubectl feastflow -n bench rollback web >/dev/null 2>&1
	rb+=($(($(now) - t0)))
	good "5.$i"
	t0=$(now)
	kubectl -n bench rollout undo deploy/web >/dev/null
	kubectl -n bench rollout status deploy/web --timeout=120s >/dev/null
	ku+=($(($(now) - t0)))
done
rbd=$(printf '%s\n' "${rb[@]}" | median)
kud=$(printf '%s\n' "${ku[@]}" | median)
good 6.0
good 6.1
rb_log=$(kubectl feastflow -n bench rollback web -v=6 2>&1 >/dev/null)
rb_requests=$(requests <<<"$rb_log")
rb_verbs=$(grep -o 'verb="[A-Z]*" url="[^"?]*' <<<"$rb_log" | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';')
good 7.0
good 7.1
ku_log=$(kubectl -n bench rollout undo deploy/web -v=6 2>&1 >/dev/null; kubectl -n bench rollout status deploy/web -v=6 2>&1 >/dev/null)
ku_requests=$(requests <<<"$ku_log")
ku_verbs=$(grep -o 'verb="[A-Z]*" url="[^"?]*' <<<"$ku_log" | sed -E 's#verb="([A-Z]+)" url="https?://[^/]+#\1 #' | tr '\n' ';')
rb_goal=MISSED
[ "$rb_requests" -le $((ku_requests + 2)) ] && rb_goal=ok

cat <<EOF
bench/rollout: medians, local cluster, $(nproc) cores
  failed image     deploy $(ms "$ffd") ms ($RUNS runs)   vs set image + rollout status $(ms "$kd") ms with progressDeadlineSeconds=$DEADLINE (2 runs)
                   ratio $(ratio "$kd" "$ffd")× at ${DEADLINE}s; with the default 600 s deadline kubectl would take ~$(ms "$kd600") ms: ratio $(ratio "$kd600" "$ffd")×  (goal ≥ 50×)
  canary-step      10 % → 50 % (4 new pods, ${DELAY}s readiness delay): $(ms "$stepd") ms, $(ms $((stepd - DELAY * 1000000000))) ms beyond the delay  (goal ≤ 1000 ms), $step_requests requests
                   by hand (kubectl scale, rollout status, scale): $(ms "$floord") ms; ratio $(ratio "$stepd" "$floord")
  rollback         $(ms "$rbd") ms ($rb_requests requests)   vs rollout undo + rollout status $(ms "$kud") ms ($ku_requests requests)   ratio $(ratio "$rbd" "$kud")  (goal ≤ 1.2)
                   requests $rb_requests vs $ku_requests: goal ≤ kubectl + 2 = $((ku_requests + 2)): $rb_goal
                   feastflow: $rb_verbs
                   kubectl:   $ku_verbs
EOF
