package strategy

import (
	"context"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// A write that changes a Deployment's pod template makes a revision. Every such write the
// plugin makes carries two records, added here to the patch of the change itself (no extra
// write):
//
//   - kubernetes.io/change-cause on the Deployment, which the deployment controller copies
//     to the revision's ReplicaSet: `kubectl rollout history` and `kubectl feastflow
//     history` show which feastflow command made the revision, who ran it and the --reason;
//   - feastflow.dev/config-versions on the pod template: the resourceVersions of the
//     ConfigMaps and Secrets the template references, read as metadata only, so that
//     `restart --changed-config` decides staleness by identity rather than by clocks.
//
// Writes that do not touch the template (scale, pause, resume) carry neither: the
// controller would copy a change cause onto the current revision and overwrite the cause
// of the deploy that made it.

// revisionPatch adds the change cause and the config record to a merge or strategic-merge
// patch of d that changes its pod template and records an operation. Other patches are
// returned unchanged.
func (e *Env) revisionPatch(ctx context.Context, d *appsv1.Deployment, patch any) any {
	body, ok := patch.(map[string]any)
	if !ok || !changesTemplate(body) {
		return patch
	}
	meta := childMap(body, "metadata")
	ann := childMap(meta, "annotations")
	if _, set := ann[ChangeCauseAnnotation]; !set {
		if raw, ok := ann[audit.LastOperationAnnotation].(string); ok {
			var op audit.Operation
			if json.Unmarshal([]byte(raw), &op) == nil {
				ann[ChangeCauseAnnotation] = "kubectl feastflow " + op.Message()
			}
		}
	}
	if record, ok := e.configRecord(ctx, d); ok {
		tplAnn := childMap(childMap(childMap(body, "spec"), "template"), "metadata")
		childMap(tplAnn, "annotations")[ConfigVersionsAnnotation] = record
	}
	return body
}

// changesTemplate reports whether a merge patch changes the pod template.
func changesTemplate(body map[string]any) bool {
	spec, _ := body["spec"].(map[string]any)
	tpl, _ := spec["template"].(map[string]any)
	for _, v := range tpl {
		if m, ok := v.(map[string]any); !ok || len(m) > 0 {
			return true
		}
	}
	return false
}

// childMap returns m[key] as a map, creating it when absent.
func childMap(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}
