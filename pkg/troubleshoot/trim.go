package troubleshoot

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/pages"
)

// Trimming: as each page of a LIST arrives, the snapshot keeps only what an analyzer may
// read. managedFields (often the largest part of an object) and kubectl's last-applied copy
// go everywhere except on ConfigMaps and Secrets, whose managedFields name their keys;
// nodes also drop their image lists (kilobytes per real node, read by no rule). An analyzer
// that needs a trimmed field must keep it here.

func trimPod(o *corev1.Pod)                          { pages.TrimMeta(&o.ObjectMeta) }
func trimEvent(o *corev1.Event)                      { pages.TrimMeta(&o.ObjectMeta) }
func trimService(o *corev1.Service)                  { pages.TrimMeta(&o.ObjectMeta) }
func trimSlice(o *discoveryv1.EndpointSlice)         { pages.TrimMeta(&o.ObjectMeta) }
func trimPVC(o *corev1.PersistentVolumeClaim)        { pages.TrimMeta(&o.ObjectMeta) }
func trimPV(o *corev1.PersistentVolume)              { pages.TrimMeta(&o.ObjectMeta) }
func trimStorageClass(o *storagev1.StorageClass)     { pages.TrimMeta(&o.ObjectMeta) }
func trimReplicaSet(o *appsv1.ReplicaSet)            { pages.TrimMeta(&o.ObjectMeta) }
func trimDeployment(o *appsv1.Deployment)            { pages.TrimMeta(&o.ObjectMeta) }
func trimPDB(o *policyv1.PodDisruptionBudget)        { pages.TrimMeta(&o.ObjectMeta) }
func trimQuota(o *corev1.ResourceQuota)              { pages.TrimMeta(&o.ObjectMeta) }
func trimServiceAccount(o *corev1.ServiceAccount)    { pages.TrimMeta(&o.ObjectMeta) }
func trimConfigMeta(o *metav1.PartialObjectMetadata) { delete(o.Annotations, pages.LastApplied) }
func trimNode(o *corev1.Node) {
	pages.TrimMeta(&o.ObjectMeta)
	o.Status.Images = nil
}
