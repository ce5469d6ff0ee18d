package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Patch helpers every strategy's writes use.

// patchDeployment sends a patch with the writer's options; in a client dry run it sends
// nothing and returns nil.
func (e *Env) patchDeployment(ctx context.Context, d *appsv1.Deployment, pt types.PatchType, patch any) (*appsv1.Deployment, error) {
	if e.Writer.Client() {
		return nil, nil
	}
	patch = e.revisionPatch(ctx, d, patch) // change cause and config versions of a new revision
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, fmt.Errorf("encode patch of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	out, err := e.Client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, pt, body, e.Writer.PatchOptions())
	if err != nil {
		return nil, writeError("patch", "deployment", d.Namespace, d.Name, err)
	}
	return out, nil
}

// annotationOps are JSON-patch operations that set annotations on d (creating the map when
// it has none); "/" in keys is escaped as JSON pointers require.
func annotationOps(d *appsv1.Deployment, set map[string]string) []map[string]any {
	if len(d.Annotations) == 0 {
		return []map[string]any{{"op": "add", "path": "/metadata/annotations", "value": set}}
	}
	var ops []map[string]any
	for _, k := range slices.Sorted(maps.Keys(set)) {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/" + jsonPointerEscape(k), "value": set[k]})
	}
	return ops
}

func jsonPointerEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}
