package maintenance

import (
	"context"
	"regexp"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/drain"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// evictOutcome classifies the answer of the Eviction API.
type evictOutcome int

const (
	evicted      evictOutcome = iota // accepted: the pod is being deleted
	evictGone                        // the pod no longer exists
	evictBlocked                     // 429: a PodDisruptionBudget allows no disruption now
	evictBusy                        // the PDB's status kept changing under the API server's retries: send again
	evictFailed                      // refused for good (RBAC, two PDBs, ...)
)

// evictor sends evictions through kubectl's drain helper, which builds a policy/v1 Eviction
// (or policy/v1beta1 on servers without it) with the pod's own grace period and dryRun=All
// in a server dry run.
type evictor struct {
	client kubernetes.Interface
	helper drain.Helper

	// gv is the Eviction group version. policy/v1 is tried first, which saves kubectl's
	// discovery request on every current server; a NotFound answer is ambiguous (the pod is
	// gone, or the server predates policy/v1), so the first one asks discovery once.
	gvOnce sync.Once
	mu     sync.Mutex
	gv     schema.GroupVersion
}

func newEvictor(ctx context.Context, client kubernetes.Interface, w *audit.Writer) *evictor {
	e := &evictor{client: client, gv: policyv1.SchemeGroupVersion}
	e.helper = drain.Helper{Ctx: ctx, Client: client, GracePeriodSeconds: -1}
	if w != nil && w.DryRun == audit.DryRunServer {
		e.helper.DryRunStrategy = cmdutil.DryRunServer
	}
	return e
}

// evict sends one eviction and classifies the answer.
func (e *evictor) evict(pod *corev1.Pod) (evictOutcome, error) {
	err := e.helper.EvictPod(*pod, e.groupVersion())
	if apierrors.IsNotFound(err) && e.groupVersion() == policyv1.SchemeGroupVersion {
		e.gvOnce.Do(func() {
			if gv, derr := drain.CheckEvictionSupport(e.client); derr == nil && !gv.Empty() {
				e.mu.Lock()
				e.gv = gv
				e.mu.Unlock()
			}
		})
		if e.groupVersion() != policyv1.SchemeGroupVersion {
			err = e.helper.EvictPod(*pod, e.groupVersion())
		}
	}
	switch {
	case err == nil:
		return evicted, nil
	case apierrors.IsNotFound(err):
		return evictGone, nil
	case apierrors.IsTooManyRequests(err):
		return evictBlocked, err
	case apierrors.IsConflict(err), apierrors.IsTimeout(err) && strings.Contains(err.Error(), "due to conflicts"):
		// The API server admits an eviction by updating the PDB's status; it retries a
		// conflicting update 20 times, 500 ms apart, then answers 409 (or, on older servers,
		// 504 "couldn't update PodDisruptionBudget ... due to conflicts"). Nothing was
		// evicted: the pod is sent again, never failed for it.
		return evictBusy, err
	case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace is being deleted: its pods go anyway; wait for them like for evicted ones.
		return evicted, nil
	}
	return evictFailed, err
}

func (e *evictor) groupVersion() schema.GroupVersion {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gv
}

// pdbNameInMessage finds the PDB named in a 429 ("The disruption budget NAME needs N healthy
// pods and has M currently"), for a PDB created after the plan listed them.
var pdbNameInMessage = regexp.MustCompile(`[Tt]he disruption budget (\S+) needs`)

func blockingPDBFromError(namespace string, err error) string {
	var msgs []string
	if status, ok := err.(apierrors.APIStatus); ok {
		if d := status.Status().Details; d != nil {
			for _, c := range d.Causes {
				msgs = append(msgs, c.Message)
			}
		}
		msgs = append(msgs, status.Status().Message)
	}
	for _, m := range msgs {
		if sub := pdbNameInMessage.FindStringSubmatch(m); sub != nil {
			return namespace + "/" + strings.TrimSuffix(sub[1], ",")
		}
	}
	return ""
}
