package troubleshoot

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

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
// nodes also drop their image lists (kilobytes per real node, read by no rule); events
// become records (records.go; at scale there are more events than pods: one Scheduled per
// pod, one SuccessfulCreate per ReplicaSet batch); pods drop the
// service-account token and downward-API parts of their projected volumes (every pod has
// one, kube-api-access-*; only its ConfigMap and Secret sources are references a rule
// checks). An analyzer that needs a trimmed field must keep it here (trim_test.go).

func trimPod(o *corev1.Pod) { trimPodSharing(o, nil) }

// trimPodSharing is trimPod with the quiet pods' common parts shared through s (nil: not);
// it reports whether the pod was quiet, and so compacted.
func trimPodSharing(o *corev1.Pod, s *sharer) bool {
	pages.TrimMeta(&o.ObjectMeta)
	for i := range o.Spec.Volumes {
		p := o.Spec.Volumes[i].Projected
		if p == nil {
			continue
		}
		kept := p.Sources[:0]
		for _, src := range p.Sources {
			if src.ConfigMap != nil || src.Secret != nil {
				kept = append(kept, corev1.VolumeProjection{ConfigMap: src.ConfigMap, Secret: src.Secret})
			}
		}
		clear(p.Sources[len(kept):])
		p.Sources = kept
	}
	if !quietPod(o) {
		return false
	}
	compactQuietPod(o)
	if s != nil {
		s.pod(o)
	}
	return true
}

// quietPod reports a pod with nothing to say: scheduled, running and Ready, no init
// containers, every container started, running and ready without a restart, nothing
// ClassifyPod finds. At scale nearly every pod is one; the analyzers read from it only
// what compactQuietPod keeps. Any other pod is kept whole for the rules that explain it.
func quietPod(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" ||
		len(p.Spec.SchedulingGates) > 0 || len(p.Spec.InitContainers) > 0 || len(p.Status.InitContainerStatuses) > 0 ||
		len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	ready := podCondition(p, corev1.PodReady)
	if ready == nil || ready.Status != corev1.ConditionTrue {
		return false
	}
	for i := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[i]
		if !st.Ready || st.Started == nil || !*st.Started || st.RestartCount != 0 || st.State.Running == nil ||
			st.State.Waiting != nil || st.State.Terminated != nil || st.LastTerminationState != (corev1.ContainerState{}) ||
			specContainer(p, st.Name, false) == nil {
			return false
		}
	}
	return ClassifyPod(p) == nil
}

// compactQuietPod keeps of a quiet pod what the rules read of healthy pods: its metadata
// (names, labels, owners, the config-versions annotation), node, service account, image
// pull secrets, the volumes a rule reads of it (claims; config volumes mounted with a
// subPath, the only config a running pod never re-reads) and, per container, name, image,
// ports, config references (env, envFrom, subPath mounts) and requests (node usage sums);
// its phase, Ready condition, start time and each container's ready/started/running-since.
// Dropped: tolerations, affinity, probes, security contexts, commands, the other mounts and
// volumes, limits, the other conditions, IPs, images' IDs and container IDs — read only of
// pods that have something to report — and the pod's UID, resourceVersion, generation and finalizers
// (read of no pod).
func compactQuietPod(o *corev1.Pod) {
	subPath := map[string]bool{}
	containers := make([]corev1.Container, len(o.Spec.Containers))
	for i := range o.Spec.Containers {
		c := &o.Spec.Containers[i]
		var mounts []corev1.VolumeMount
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				mounts = append(mounts, m)
				subPath[m.Name] = true
			}
		}
		containers[i] = corev1.Container{
			Name: c.Name, Image: c.Image, Ports: c.Ports, EnvFrom: c.EnvFrom, Env: c.Env, VolumeMounts: mounts,
			Resources: corev1.ResourceRequirements{Requests: c.Resources.Requests},
		}
	}
	var volumes []corev1.Volume
	for i := range o.Spec.Volumes {
		if v := &o.Spec.Volumes[i]; v.PersistentVolumeClaim != nil || subPath[v.Name] {
			volumes = append(volumes, *v)
		}
	}
	statuses := make([]corev1.ContainerStatus, len(o.Status.ContainerStatuses))
	for i := range o.Status.ContainerStatuses {
		st := &o.Status.ContainerStatuses[i]
		statuses[i] = corev1.ContainerStatus{
			Name: st.Name, Ready: st.Ready, Started: st.Started, RestartCount: st.RestartCount,
			State: corev1.ContainerState{Running: st.State.Running},
		}
	}
	ready := *podCondition(o, corev1.PodReady) // quietPod: there is one, True
	o.ObjectMeta = metav1.ObjectMeta{          // no rule reads a pod's UID, version, generation or finalizers
		Name: o.Name, GenerateName: o.GenerateName, Namespace: o.Namespace, CreationTimestamp: o.CreationTimestamp,
		Labels: o.Labels, Annotations: o.Annotations, OwnerReferences: o.OwnerReferences,
	}
	o.Spec = corev1.PodSpec{
		Volumes: volumes, Containers: containers, NodeName: o.Spec.NodeName,
		ServiceAccountName: o.Spec.ServiceAccountName, ImagePullSecrets: o.Spec.ImagePullSecrets,
		Overhead: o.Spec.Overhead, Resources: o.Spec.Resources,
	}
	o.Status = corev1.PodStatus{
		Phase: o.Status.Phase, StartTime: o.Status.StartTime, ContainerStatuses: statuses,
		Conditions: []corev1.PodCondition{{Type: ready.Type, Status: ready.Status, LastTransitionTime: ready.LastTransitionTime}},
	}
}

// sharer lets the quiet pods of one read share what they have in common instead of one
// decoded copy each: strings (namespace, node, image and container names), label maps (the
// pods of a ReplicaSet carry the same labels), owner references and compacted containers. Nothing mutates a
// snapshot's pods, so sharing is safe. One sharer serves one LIST's goroutine.
type sharer struct {
	strings    map[string]string
	labels     map[string]map[string]string
	owners     map[string][]metav1.OwnerReference
	containers map[string][]corev1.Container
}

func newSharer() *sharer {
	return &sharer{strings: map[string]string{}, labels: map[string]map[string]string{}, owners: map[string][]metav1.OwnerReference{},
		containers: map[string][]corev1.Container{}}
}

// sharedContainers returns an earlier quiet pod's compacted containers equal to cs (the pods
// of a ReplicaSet have the same), or records cs. Equal means the same protobuf encoding
// (maps are encoded in key order), each container prefixed by its length.
func (s *sharer) sharedContainers(cs []corev1.Container) []corev1.Container {
	var k []byte
	for i := range cs {
		b, err := cs[i].Marshal()
		if err != nil {
			return cs
		}
		k = append(binary.AppendUvarint(k, uint64(len(b))), b...)
	}
	if shared, ok := s.containers[string(k)]; ok {
		return shared
	}
	s.containers[string(k)] = cs
	return cs
}

func (s *sharer) str(v string) string {
	if u, ok := s.strings[v]; ok {
		return u
	}
	s.strings[v] = v
	return v
}

// pod shares a compacted quiet pod's common parts.
func (s *sharer) pod(o *corev1.Pod) {
	o.Namespace, o.GenerateName = s.str(o.Namespace), s.str(o.GenerateName)
	o.Spec.NodeName, o.Spec.ServiceAccountName = s.str(o.Spec.NodeName), s.str(o.Spec.ServiceAccountName)
	if len(o.Labels) > 0 {
		keys := make([]string, 0, len(o.Labels))
		for k := range o.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "\x00" + o.Labels[k] + "\x00")
		}
		if m, ok := s.labels[b.String()]; ok {
			o.Labels = m
		} else {
			s.labels[b.String()] = o.Labels
		}
	}
	if len(o.OwnerReferences) == 1 {
		r := &o.OwnerReferences[0]
		k := string(r.UID) + "\x00" + r.APIVersion + "\x00" + r.Kind + "\x00" + r.Name + "\x00" + fmt.Sprint(r.Controller != nil && *r.Controller, r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion)
		if rs, ok := s.owners[k]; ok {
			o.OwnerReferences = rs
		} else {
			s.owners[k] = o.OwnerReferences
		}
	}
	o.Spec.Containers = s.sharedContainers(o.Spec.Containers)
	for i := range o.Spec.Containers {
		c := &o.Spec.Containers[i]
		c.Name, c.Image = s.str(c.Name), s.str(c.Image)
	}
	for i := range o.Status.ContainerStatuses {
		o.Status.ContainerStatuses[i].Name = s.str(o.Status.ContainerStatuses[i].Name)
	}
}

func trimService(o *corev1.Service)                  { pages.TrimMeta(&o.ObjectMeta) }
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

// trimSlice keeps of each endpoint what the rules and the probe read: addresses, conditions
// and the target's kind, namespace and name (not its UID or version, nor the endpoint's
// node, zone, hostname or hints).
func trimSlice(o *discoveryv1.EndpointSlice) {
	pages.TrimMeta(&o.ObjectMeta)
	for i := range o.Endpoints {
		e := &o.Endpoints[i]
		if r := e.TargetRef; r != nil {
			e.TargetRef = &corev1.ObjectReference{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}
		}
		e.NodeName, e.Zone, e.Hostname, e.Hints, e.DeprecatedTopology = nil, nil, nil, nil, nil
	}
}
