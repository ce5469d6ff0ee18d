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
