package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/feastflow/kubectl-feastflow/test/e2e/harness"
)

// roleAs grants a ServiceAccount name the rules given (YAML list items, indented two spaces)
// in ns, and returns the --as flag that acts as it.
func roleAs(h *harness.H, ns, name, rules string) string {
	h.Apply(ns, fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: %[1]s}
rules:
%[2]s---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %[1]s}
subjects: [{kind: ServiceAccount, name: %[1]s}]
`, name, rules))
	return "--as=system:serviceaccount:" + ns + ":" + name
}

// restrictedRole grants a ServiceAccount "restricted" what the release verbs read and write,
// except the resource named by missing (statefulsets or daemonsets).
func restrictedRole(t *testing.T, h *harness.H, ns, missing string) string {
	t.Helper()
	other := map[string]string{"statefulsets": "daemonsets", "daemonsets": "statefulsets"}[missing]
	return roleAs(h, ns, "restricted", fmt.Sprintf(`  - {apiGroups: [""], resources: [services, pods, events, persistentvolumeclaims], verbs: [get, list, watch, patch, create, delete]}
  - {apiGroups: [apps], resources: [deployments, replicasets, controllerrevisions, %s], verbs: [get, list, watch, patch]}
`, other))
}

// A user who may not read StatefulSets (or DaemonSets) gets, from every verb on such a
// component, exit 1 naming the denied read — never "unknown strategy" or a healthy report —
// and nothing changes.
func TestWorkloadVerbsForbidden(t *testing.T) {
	h := harness.For(t)
	stsNS := stsSetup(t, h, 2, "0s")
	dsNS := dsSetup(t, h)
	for _, tc := range []struct {
		ns, svc, kind, name, missing string
	}{
		{stsNS, stsSvc, "sts", stsName, "statefulsets"},
		{dsNS, dsSvc, "ds", dsName, "daemonsets"},
	} {
		as := restrictedRole(t, h, tc.ns, tc.missing)
		svcRV, objRV := cnRV(h, tc.ns, "svc", tc.svc), cnRV(h, tc.ns, tc.kind, tc.name)
		for _, args := range [][]string{
			{"status", tc.svc},
			{"deploy", tc.svc, "--image", "registry.local/other:9"},
			{"canary-step", tc.svc, "--weight", "50"},
			{"promote", tc.svc},
			{"abort", tc.svc, "--yes"},
			{"pause", tc.svc},
			{"resume", tc.svc},
			{"rollback", tc.svc},
			{"history", tc.svc},
			{"restart", tc.svc},
		} {
			r := h.Feastflow(append(args, "-n", tc.ns, as)...)
			out := r.Stdout + r.Stderr
			if r.ExitCode != 1 || !strings.Contains(r.Stderr, tc.missing) || !strings.Contains(strings.ToLower(r.Stderr), "forbidden") || strings.Contains(out, "unknown") {
				t.Errorf("%s %v: exit %d, want 1 naming the denied list of %s\n%s", tc.missing, args, r.ExitCode, tc.missing, out)
			}
		}
		if cnRV(h, tc.ns, "svc", tc.svc) != svcRV || cnRV(h, tc.ns, tc.kind, tc.name) != objRV {
			t.Errorf("%s: a denied verb changed something", tc.missing)
		}
	}
}

// status -A shows StatefulSet and DaemonSet components with their revisions and ready
// counts, as status -n does, from one paged read per kind.
func TestStatusAllWorkloads(t *testing.T) {
	h := harness.For(t)
	stsNS := stsSetup(t, h, 2, "0s")
	dsNS := dsSetup(t, h)
	r := cnRun(t, h, 0, "status", "-A")
	for _, want := range []string{"Namespace " + stsNS + ":", "statefulset/" + stsName, "Namespace " + dsNS + ":", "daemonset/" + dsName} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status -A lacks %q:\n%s", want, r.Stdout)
		}
	}
	one := cnRun(t, h, 0, "status", "-n", stsNS)
	for _, line := range strings.Split(one.Stdout, "\n") {
		if strings.Contains(line, "statefulset/"+stsName) && !strings.Contains(r.Stdout, line) {
			t.Errorf("status -A's line differs from status -n's: %q\n%s", line, r.Stdout)
		}
	}
	r = cnRun(t, h, 0, "status", "-A", "-o", "json")
	for _, want := range []string{`"kind": "StatefulSet"`, `"kind": "DaemonSet"`, `"strategy": "statefulset"`, `"strategy": "daemonset"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status -A -o json lacks %s", want)
		}
	}
}

// A user who may read StatefulSets and DaemonSets but not patch them: deploy and rollback
// are refused by the API server at the workload's patch. Each exits 1 naming the denied
// patch; the workload's template, the Service's selector and its release record and last
// operation are as before (deploy records the release before its first write and takes the
// record back when that write is refused: status never shows an operation that did not
// happen).
func TestWorkloadVerbsDeniedPatch(t *testing.T) {
	h := harness.For(t)
	for _, tc := range []struct {
		kind, svc, name, container, resource string
		setup                                func() string
	}{
		{"ds", dsSvc, dsName, "agent", "daemonsets", func() string { return dsSetup(t, h) }},
		{"sts", stsSvc, stsName, "store", "statefulsets", func() string { return stsSetup(t, h, 2, "0s") }},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			ns := tc.setup()
			as := roleAs(h, ns, "reader", `  - {apiGroups: [""], resources: [services, pods, events], verbs: [get, list, watch, patch, create]}
  - {apiGroups: [""], resources: [namespaces], verbs: [get]}
  - {apiGroups: [apps], resources: [deployments, replicasets, controllerrevisions, statefulsets, daemonsets], verbs: [get, list, watch]}
`)
			// A second revision, so that there is one to roll back to.
			h.MustKubectl("-n", ns, "set", "image", tc.kind+"/"+tc.name, tc.container+"=registry.local/next:1.1")
			h.MustKubectl("-n", ns, "rollout", "status", tc.kind+"/"+tc.name, "--timeout=2m")
			annotations := func() string {
				return h.MustKubectl("-n", ns, "get", "svc", tc.svc, "-o", "jsonpath={.spec.selector} {.metadata.annotations}")
			}
			template := func() string {
				return h.MustKubectl("-n", ns, "get", tc.kind, tc.name, "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}")
			}
			svcBefore, before := annotations(), template()
			for _, args := range [][]string{
				{"deploy", tc.svc, "--image", "registry.local/other:9"},
				{"rollback", tc.svc},
			} {
				r := h.Feastflow(append(args, "-n", ns, as)...)
				if r.ExitCode != 1 || !strings.Contains(strings.ToLower(r.Stderr), "forbidden") || !strings.Contains(r.Stderr, "patch "+tc.resource) {
					t.Errorf("%v with %s read-only: exit %d, want 1 naming the denied patch\n%s%s", args, tc.resource, r.ExitCode, r.Stdout, r.Stderr)
				}
				if args[0] == "deploy" && !strings.Contains(r.Stderr, "nothing changed (the release record was restored)") {
					t.Errorf("the refused deploy does not say its record was taken back:\n%s", r.Stderr)
				}
				if got := template(); got != before {
					t.Errorf("%v: the %s changed to %q (was %q)", args, tc.kind, got, before)
				}
			}
			if got := annotations(); got != svcBefore {
				t.Errorf("the Service's selector, release record or last operation changed:\nbefore %s\nafter  %s", svcBefore, got)
			}
			if r := h.Feastflow("status", tc.svc, "-n", ns); r.ExitCode != 0 || strings.Contains(r.Stdout, "registry.local/other:9") {
				t.Errorf("status after the denied verbs: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
			}
		})
	}
}
