package strategy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// jsonOp is one JSON-patch operation.
type jsonOp = map[string]any

// metaAnnotationOps are JSON-patch operations that set annotations on an object whose
// current annotations are have (creating the map when empty).
func metaAnnotationOps(have map[string]string, set map[string]string) []jsonOp {
	if len(have) == 0 {
		return []jsonOp{{"op": "add", "path": "/metadata/annotations", "value": set}}
	}
	var ops []jsonOp
	for _, k := range slices.Sorted(maps.Keys(set)) {
		ops = append(ops, jsonOp{"op": "add", "path": "/metadata/annotations/" + jsonPointerEscape(k), "value": set[k]})
	}
	return ops
}

// imageOps are JSON-patch operations that set the images SetImages changed in want (the
// container indexes of the object as read, which the generation test pins).
func imageOps(want *corev1.PodTemplateSpec, changes []ImageChange) []jsonOp {
	var ops []jsonOp
	seen := map[string]bool{}
	for _, ch := range changes {
		key := fmt.Sprintf("%t/%s", ch.Init, ch.Container)
		if seen[key] {
			continue
		}
		seen[key] = true
		list, path := want.Spec.Containers, "/spec/template/spec/containers/"
		if ch.Init {
			list, path = want.Spec.InitContainers, "/spec/template/spec/initContainers/"
		}
		for i := range list {
			if list[i].Name == ch.Container {
				ops = append(ops, jsonOp{"op": "replace", "path": fmt.Sprintf("%s%d/image", path, i), "value": list[i].Image})
			}
		}
	}
	return ops
}

// partitionOps set a StatefulSet's rolling-update partition (keeping its maxUnavailable).
func partitionOps(s *appsv1.StatefulSet, partition int32) []jsonOp {
	ops := []jsonOp{}
	if s.Spec.UpdateStrategy.Type == "" {
		ops = append(ops, jsonOp{"op": "add", "path": "/spec/updateStrategy/type", "value": string(appsv1.RollingUpdateStatefulSetStrategyType)})
	}
	if s.Spec.UpdateStrategy.RollingUpdate == nil {
		return append(ops, jsonOp{"op": "add", "path": "/spec/updateStrategy/rollingUpdate", "value": map[string]any{"partition": partition}})
	}
	return append(ops, jsonOp{"op": "add", "path": "/spec/updateStrategy/rollingUpdate/partition", "value": partition})
}

// patchStatefulSet sends a JSON patch to s that first tests s's generation (any spec
// change since s was read — a `kubectl scale`, a partition patch, a `set image` — fails it
// with a conflict naming the object) and sets the last-operation annotation (and extra
// annotations) in the same request; it updates s in place and records an Event. Nothing is
// sent in a client dry run.
func patchStatefulSet(ctx context.Context, env *Env, s *appsv1.StatefulSet, ops []jsonOp, extra map[string]string, op audit.Operation, reason string) error {
	body, err := workloadPatch(s.Generation, s.Annotations, ops, extra, op)
	if err != nil || env.Writer.Client() {
		return err
	}
	out, err := env.Client.AppsV1().StatefulSets(s.Namespace).Patch(ctx, s.Name, types.JSONPatchType, body, env.Writer.PatchOptions())
	if err != nil {
		return writeError("patch", "statefulset", s.Namespace, s.Name, err)
	}
	if env.Writer.Live() {
		*s = *out
	}
	env.event(ctx, kindStatefulSet, "apps/v1", out, reason, op)
	return nil
}

// patchDaemonSet is patchStatefulSet for a DaemonSet.
func patchDaemonSet(ctx context.Context, env *Env, d *appsv1.DaemonSet, ops []jsonOp, extra map[string]string, op audit.Operation, reason string) error {
	body, err := workloadPatch(d.Generation, d.Annotations, ops, extra, op)
	if err != nil || env.Writer.Client() {
		return err
	}
	out, err := env.Client.AppsV1().DaemonSets(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, body, env.Writer.PatchOptions())
	if err != nil {
		return writeError("patch", "daemonset", d.Namespace, d.Name, err)
	}
	if env.Writer.Live() {
		*d = *out
	}
	env.event(ctx, kindDaemonSet, "apps/v1", out, reason, op)
	return nil
}

func workloadPatch(generation int64, have map[string]string, ops []jsonOp, extra map[string]string, op audit.Operation) ([]byte, error) {
	ann := map[string]string{audit.LastOperationAnnotation: op.Annotation()}
	for k, v := range extra {
		ann[k] = v
	}
	all := append([]jsonOp{{"op": "test", "path": "/metadata/generation", "value": generation}}, ops...)
	all = append(all, metaAnnotationOps(have, ann)...)
	body, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("encode patch: %w", err)
	}
	return body, nil
}
