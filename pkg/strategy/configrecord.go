package strategy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/feastflow/kubectl-feastflow/pkg/troubleshoot"
)

// ConfigVersionsAnnotation on a pod template records the resourceVersions of the
// ConfigMaps and Secrets the template references, as of the plugin's last deploy or
// restart of it: "configmap/app-config=4711,secret/db=4712" (sorted). restart
// --changed-config compares it with the objects' current versions.
const ConfigVersionsAnnotation = troubleshoot.ConfigVersionsAnnotation

// configCache holds the metadata LIST of each kind per namespace, read once per run.
type configCache struct {
	mu    sync.Mutex
	index map[string]*configIndex // by namespace
}

// configIndex is what the namespace's ConfigMaps and Secrets metadata tells.
type configIndex struct {
	versions map[objRef]string
	changed  map[objRef]time.Time
	created  map[objRef]time.Time
	// listed says which kinds could be listed (a Role may forbid listing Secrets).
	listed map[string]bool
}

// configIndex lists, as metadata only, the kinds of config objects the Deployments'
// templates reference (one LIST per kind, once per run and namespace).
func (e *Env) configIndex(ctx context.Context, ns string, deps []*appsv1.Deployment) (*configIndex, error) {
	kinds := map[string]bool{}
	for _, d := range deps {
		for _, r := range templateConfigRefs(&d.Spec.Template) {
			kinds[r.kind] = true
		}
	}
	if e.config == nil {
		e.config = &configCache{} // an Env serves one operation; its writes are sequential
	}
	e.config.mu.Lock()
	defer e.config.mu.Unlock()
	if e.config.index == nil {
		e.config.index = map[string]*configIndex{}
	}
	idx := e.config.index[ns]
	if idx == nil {
		idx = &configIndex{versions: map[objRef]string{}, changed: map[objRef]time.Time{}, created: map[objRef]time.Time{}, listed: map[string]bool{}}
		e.config.index[ns] = idx
	}
	for _, kind := range []string{"ConfigMap", "Secret"} {
		if !kinds[kind] || idx.listed[kind] {
			continue
		}
		gvr := schema.GroupVersionResource{Version: "v1", Resource: strings.ToLower(kind) + "s"}
		list, err := e.Metadata.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsForbidden(err) {
			// Even metadata needs `list` on the resource; a least-privilege Role may lack it
			// for Secrets. Say what is not checked and go on with the rest.
			e.report("warning: cannot list %s in %s (forbidden): %ss are neither recorded nor checked for changes; grant list on %s to include them", gvr.Resource, ns, kind, gvr.Resource)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s metadata in %s: %w", gvr.Resource, ns, err)
		}
		for i := range list.Items {
			r := objRef{kind, list.Items[i].Name}
			idx.versions[r] = list.Items[i].ResourceVersion
			idx.changed[r] = lastChange(&list.Items[i].ObjectMeta)
			idx.created[r] = list.Items[i].CreationTimestamp.UTC()
		}
		idx.listed[kind] = true
	}
	return idx, nil
}

// configRecord is the ConfigVersionsAnnotation value for a template of d: the current
// versions of the objects it references that exist and could be listed. ok is false when
// there is nothing to record or no metadata client (the record is then left as it is).
func (e *Env) configRecord(ctx context.Context, d *appsv1.Deployment) (string, bool) {
	refs := templateConfigRefs(&d.Spec.Template)
	if e.Metadata == nil || len(refs) == 0 {
		return "", false
	}
	idx, err := e.configIndex(ctx, d.Namespace, []*appsv1.Deployment{d})
	if err != nil {
		e.report("warning: config versions of deployment %s not recorded: %v", d.Name, err)
		return "", false
	}
	var parts []string
	for _, r := range refs {
		if v, ok := idx.versions[r]; ok {
			parts = append(parts, strings.ToLower(r.kind)+"/"+r.name+"="+v)
		}
	}
	if len(parts) == 0 {
		return "", false
	}
	sort.Strings(parts)
	return strings.Join(parts, ","), true
}

// parseConfigRecord reads a ConfigVersionsAnnotation value (diagnose's StaleConfig reads it
// with the same parser); ok is false when there is none.
func parseConfigRecord(s string) (map[objRef]string, bool) {
	versions, ok := troubleshoot.ParseConfigVersions(s)
	if !ok {
		return nil, false
	}
	out := make(map[objRef]string, len(versions))
	for ref, version := range versions {
		kind, name, _ := strings.Cut(ref, "/")
		out[objRef{kind, name}] = version
	}
	return out, true
}
