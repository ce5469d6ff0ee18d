package traffic

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The permissions traffic checks use: GET on the proxy subresources.
var (
	PodProxy     = authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Subresource: "proxy"}
	ServiceProxy = authorizationv1.ResourceAttributes{Verb: "get", Resource: "services", Subresource: "proxy"}
)

// PermissionName is "get pods/proxy".
func PermissionName(a authorizationv1.ResourceAttributes) string {
	name := a.Resource
	if a.Subresource != "" {
		name += "/" + a.Subresource
	}
	if a.Group != "" {
		name += "." + a.Group
	}
	return a.Verb + " " + name
}

// AccessError is a traffic check the caller may not run: the API server's authorizer
// denied a proxy subresource. It is never a verdict on the app.
type AccessError struct {
	// Check is what could not run ("smoke test", "canary analysis", "traffic probe").
	Check     string
	Namespace string
	// Denied are the permissions refused, e.g. "get pods/proxy".
	Denied []string
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("%s not allowed: forbidden to %s in namespace %s (SelfSubjectAccessReview): this says nothing about the app; ask for it (deploy/rbac/release.yaml grants get on pods/proxy and services/proxy)",
		e.Check, strings.Join(e.Denied, ", "), e.Namespace)
}

// CheckAccess asks the API server whether the caller may use each permission in ns, one
// SelfSubjectAccessReview per permission, in parallel. A denied permission is an
// *AccessError. A review that could not be made is not a denial: the check itself will
// meet the authorizer and report a forbidden answer as forbidden.
func CheckAccess(ctx context.Context, client kubernetes.Interface, ns, check string, perms ...authorizationv1.ResourceAttributes) error {
	denied := make([]string, len(perms))
	var wg sync.WaitGroup
	for i, p := range perms {
		wg.Go(func() {
			p.Namespace = ns
			res, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &p},
			}, metav1.CreateOptions{})
			if err == nil && !res.Status.Allowed {
				denied[i] = PermissionName(p)
			}
		})
	}
	wg.Wait()
	var names []string
	for _, d := range denied {
		if d != "" {
			names = append(names, d)
		}
	}
	if len(names) > 0 {
		return &AccessError{Check: check, Namespace: ns, Denied: names}
	}
	return nil
}
