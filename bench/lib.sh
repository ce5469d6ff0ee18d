# Shared by the benchmarks that run the plugin against a private local cluster.
# Source it after setting ROOT; it defines bench_cluster NAME [localcluster up flags...],
# which starts a cluster in a temporary state directory, puts the built plugin (as kubectl
# finds it, on PATH) and the matching kubectl first on PATH, points KUBECONFIG at the
# cluster, and stops and removes everything when the script exits. STATE and WORK name
# the state and PATH directories.

BIN=${FEASTFLOW_BIN:-$ROOT/.cache/bin}
PLUGIN=${FEASTFLOW_PLUGIN:-$ROOT/bin/kubectl-feastflow}
export GOTOOLCHAIN=local

bench_cleanup() {
	(cd "$ROOT" && go run ./hack/localcluster down --state "$STATE" >/dev/null 2>&1) || true
	rm -rf "$STATE" "$WORK"
}

bench_cluster() {
	local name=$1
	shift
	STATE=$(mktemp -d "/tmp/feastflow-bench-$name.XXXXXX")
	WORK=$(mktemp -d /tmp/feastflow-bench-path.XXXXXX)
	trap bench_cleanup EXIT
	[ -x "$PLUGIN" ] || { echo "bench: $PLUGIN missing: run make build" >&2; exit 1; }
	# kubectl finds the plugin on PATH, as a user's would.
	cp "$PLUGIN" "$WORK/kubectl-feastflow"
	export PATH="$WORK:$BIN:$PATH"
	export KUBECONFIG="$STATE/kubeconfig"
	export KUBECACHEDIR="$STATE/kube-cache"
	echo "starting a cluster in $STATE" >&2
	(cd "$ROOT" && go run ./hack/localcluster up --bin "$BIN" --state "$STATE" "$@" >/dev/null)
}

# Timing and counting helpers of the release benchmarks: times in nanoseconds (now), the
# median of the numbers on stdin, nanoseconds as milliseconds, a ratio, and the requests in
# a -v=6 log on stdin.
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.0f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
requests() { grep -c '"Response" verb=' || true; }

# bench_feastflow_app applies examples/feastflow and deploys backend 1.5.0 to its idle
# color (a blue-green release ready to switch), then warms kubectl's discovery cache, as
# on a user's machine.
bench_feastflow_app() {
	kubectl apply -f "$ROOT/examples/feastflow/" >/dev/null
	kubectl -n feastflow rollout status deploy/feastflow-backend-blue --timeout=120s >/dev/null
	kubectl feastflow -n feastflow deploy feastflow-backend --image ghcr.io/feastflow/backend:1.5.0 >/dev/null 2>&1
	kubectl get --raw /api >/dev/null
}
