// Package troubleshoot finds why workloads are not serving: the pod-failure classifier that
// `deploy`'s fail-fast wait also uses (ClassifyPod), the namespace diagnosis behind
// `kubectl feastflow diagnose` (Diagnose) and the pre-deployment checklist behind
// `kubectl feastflow preflight` (Preflight). It imports no cobra: it takes client
// interfaces and returns typed reports that pkg/plugin prints.
package troubleshoot
