#!/usr/bin/env bash
# Walks through kubectl feastflow on the local cluster: starts from fresh demo namespaces
# (deletes feastflow and feastflow-canary if a previous run left them), applies
# examples/feastflow, waits until everything is Ready, shows the app, then runs the plugin's
# verbs. Every command's exit code is checked against the one the walk-through expects (0,
# or 3 where a command reports problems on purpose): anything else stops the demo with exit 1.
# Called by `make demo` after `make build cluster-up`; safe to run again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export KUBECONFIG=${KUBECONFIG_DEMO:-$ROOT/.cluster/kubeconfig}
# The plugin under demo and the kubectl matched to the server come first on PATH.
export PATH="$ROOT/bin:$ROOT/.cache/bin:$PATH"
NS=feastflow

[ -f "$KUBECONFIG" ] || { echo "demo: no cluster kubeconfig at $KUBECONFIG (run make cluster-up)" >&2; exit 1; }
command -v kubectl-feastflow >/dev/null || { echo "demo: bin/kubectl-feastflow missing (run make build)" >&2; exit 1; }

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
step() { printf '\n%s### %s%s\n' "$B" "$*" "$N"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# expect CODE CMD...: run CMD and stop the demo unless it exits with CODE.
expect() {
  local want=$1 rc=0
  shift
  printf '$ %s\n' "$*"
  "$@" || rc=$?
  if [ "$rc" != "$want" ]; then
    echo "demo: \`$*\` exited $rc, the walk-through expects $want" >&2
    exit 1
  fi
}
# verb_exists VERB: true when the plugin in bin/ has that verb (the demo grows with the plugin).
verb_exists() { kubectl feastflow --help 2>/dev/null | grep -qE "^  $1( |$)"; }

step "Start fresh: remove what a previous demo left"
run kubectl delete namespace "$NS" feastflow-canary --ignore-not-found --wait=true --timeout=120s
NODES=$(kubectl get nodes -o jsonpath='{range .items[?(@.spec.unschedulable)]}{.metadata.name}{" "}{end}')
[ -z "$NODES" ] || run kubectl uncordon $NODES

step "Apply the FeastFlow app (examples/feastflow)"
run kubectl apply -f examples/feastflow/

step "Wait until it is Ready"
run kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Bound pvc/postgres-data --timeout=60s
for d in postgres feastflow-backend-blue feastflow-backend-green feastflow-frontend; do
  run kubectl -n "$NS" rollout status "deployment/$d" --timeout=120s
done

step "The app"
run kubectl -n "$NS" get pods,svc,endpointslices -o wide

step "kubectl feastflow"
run kubectl feastflow version

# ---------------------------------------------------------------------------------------------
# VERBS: append each verb's demo below, one `step` + `run` block per verb, guarded with
# verb_exists so the demo keeps working while the verb is being built. Keep every block
# re-runnable (e.g. switch back at the end of a blue-green walk-through).
# ---------------------------------------------------------------------------------------------
if verb_exists status; then
  step "Release status of every component"
  expect 0 kubectl feastflow status -n "$NS"
fi
if verb_exists preflight; then
  step "Pre-deployment checklist for the backend"
  expect 0 kubectl feastflow preflight feastflow-backend -n "$NS"
fi
if verb_exists diagnose; then
  step "Diagnose the namespace"
  expect 0 kubectl feastflow diagnose -n "$NS"
  step "Break something (a crash-looping Deployment, simulated by the cluster) and diagnose it"
  run kubectl -n "$NS" create deployment demo-broken --image=ghcr.io/feastflow/backend:crashloop
  run kubectl -n "$NS" wait pod -l app=demo-broken --timeout=60s \
    --for=jsonpath='{.status.containerStatuses[0].state.waiting.reason}'=CrashLoopBackOff
  expect 3 kubectl feastflow diagnose deploy/demo-broken -n "$NS"
  run kubectl -n "$NS" delete deployment demo-broken --wait=false
fi
if verb_exists maintenance; then
  step "Node maintenance: plan, drain (PDB-paced, replacements Ready), status, uncordon"
  NODE=$(kubectl -n "$NS" get pods -l app=feastflow-backend -o jsonpath='{.items[0].spec.nodeName}')
  expect 0 kubectl feastflow maintenance plan "$NODE" --ignore-daemonsets
  expect 0 kubectl feastflow maintenance drain "$NODE" --ignore-daemonsets --wait-ready --yes --reason "demo"
  expect 0 kubectl feastflow maintenance status
  expect 0 kubectl feastflow maintenance uncordon "$NODE"
fi
if verb_exists canary-step; then
  step "Canary release of the backend (examples/feastflow-canary): deploy, step, promote"
  run kubectl apply -f examples/feastflow-canary/
  for d in feastflow-backend-stable feastflow-backend-canary; do
    run kubectl -n feastflow-canary rollout status "deployment/$d" --timeout=120s
  done
  expect 0 kubectl feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.5.1 -n feastflow-canary --reason "demo"
  expect 0 kubectl feastflow canary-step feastflow-backend -n feastflow-canary
  expect 0 kubectl feastflow canary-step feastflow-backend --weight 50 -n feastflow-canary
  expect 0 kubectl feastflow promote feastflow-backend --yes -n feastflow-canary
  step "Rolling deploy of a broken frontend image: fails fast, rolls back, history"
  expect 1 kubectl feastflow deploy feastflow-frontend --image ghcr.io/feastflow/frontend:notfound --auto-rollback -n "$NS"
  expect 0 kubectl feastflow history feastflow-frontend -n "$NS"
fi
if verb_exists switch; then
  step "Blue-green release of the backend: deploy green, switch, promote, then roll back to blue"
  expect 0 kubectl feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.5.0 -n "$NS" --reason "demo"
  expect 0 kubectl feastflow switch green feastflow-backend -n "$NS" --reason "demo"
  expect 0 kubectl feastflow promote feastflow-backend --scale-down-delay 5s --yes -n "$NS"
  expect 0 kubectl feastflow rollback feastflow-backend -n "$NS"
  expect 0 kubectl feastflow status feastflow-backend -n "$NS"
fi
# --- end of VERBS ----------------------------------------------------------------------------

step "Done. Try it yourself:"
echo "  export KUBECONFIG=$KUBECONFIG PATH=$ROOT/bin:$ROOT/.cache/bin:\$PATH"
echo "  kubectl feastflow --help"
