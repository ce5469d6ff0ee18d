package strategy

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

// availableRevision is a revision of a Deployment that was serving: where --auto-rollback
// returns to.
type availableRevision struct {
	revision int64
	images   string
}

// lastAvailableRevision finds, before a deploy changes d, the revision to return to if
// the deploy fails: d's current revision when its rollout is complete (every replica
// updated and available), else the older ReplicaSet that still has the most available
// pods (the newest on a tie) — the revision that serves while a failed or unfinished
// rollout is stuck. The previous template is not enough: after a failed deploy without
// --auto-rollback it is that failure. nil when no revision has available pods. One LIST
// of ReplicaSets, only when the current revision is not complete.
func lastAvailableRevision(ctx context.Context, env *Env, d *appsv1.Deployment) (*availableRevision, error) {
	if rev, err := deploymentutil.Revision(d); err == nil && rev > 0 && rolloutComplete(d) {
		return &availableRevision{revision: rev, images: imagesText(TemplateImages(&d.Spec.Template))}, nil
	}
	list, err := env.Client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list replicasets in %s (to find the revision --auto-rollback returns to): %w", d.Namespace, err)
	}
	var best *appsv1.ReplicaSet
	var bestRev int64
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, d) || EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) || rs.Status.AvailableReplicas == 0 {
			continue
		}
		rev, err := deploymentutil.Revision(rs)
		if err != nil {
			continue
		}
		if best == nil || rs.Status.AvailableReplicas > best.Status.AvailableReplicas || rs.Status.AvailableReplicas == best.Status.AvailableReplicas && rev > bestRev {
			best, bestRev = rs, rev
		}
	}
	if best == nil {
		return nil, nil
	}
	return &availableRevision{revision: bestRev, images: imagesText(TemplateImages(&best.Spec.Template))}, nil
}

// rolloutComplete reports whether d's controller has observed its spec and every replica
// runs the current template and is available, with no old pod left.
func rolloutComplete(d *appsv1.Deployment) bool {
	want := desiredReplicas(d)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
}
