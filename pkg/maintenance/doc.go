// Package maintenance plans and carries out node maintenance: plan (what a drain would do
// and whether it is safe), cordon and uncordon (recorded on the node, undoing only what the
// plugin did), drain (cordon, evict through the Eviction API, name every blocking
// PodDisruptionBudget while waiting, bounded by a timeout) and status.
//
// It reuses k8s.io/kubectl/pkg/drain for the eviction call itself (policy/v1 with the
// policy/v1beta1 fallback) and mirrors its pod filters; what kubectl's helper lacks — one
// LIST per kind instead of a GET per pod, PDB-aware waiting driven by watches, capacity
// planning, replacement readiness — is written here.
//
// Every Kubernetes write this package makes is in cordon.go (node patches and Events) and
// evict.go (evictions).
package maintenance
