package troubleshoot

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigRef is one reference from a pod template to a ConfigMap or Secret (or one key of it).
type ConfigRef struct {
	Kind      string `json:"kind"` // ConfigMap or Secret
	Name      string `json:"name"`
	Key       string `json:"key,omitempty"` // "" = the whole object
	Optional  bool   `json:"optional,omitempty"`
	Container string `json:"container,omitempty"`
	// Via says where the reference is, e.g. `env DB_PASSWORD`, `envFrom`, `volume config`.
	Via string `json:"via"`
	// Static is true when the pod reads the value once at start (env, envFrom, subPath
	// mounts): a change needs a restart. Mounted volumes are updated by the kubelet.
	Static bool `json:"static,omitempty"`
}

func (r ConfigRef) String() string {
	s := fmt.Sprintf("%s %q", r.Kind, r.Name)
	if r.Key != "" {
		s = fmt.Sprintf("key %q of %s", r.Key, s)
	}
	where := r.Via
	if r.Container != "" {
		where += " of container " + r.Container
	}
	return s + " (" + where + ")"
}

// PodConfigRefs lists every ConfigMap and Secret reference of a pod spec: env, envFrom,
// volumes (with their items), projected volume sources, and imagePullSecrets (as Secrets).
func PodConfigRefs(spec *corev1.PodSpec) []ConfigRef {
	var refs []ConfigRef
	subPathVolumes := map[string]bool{}
	all := make([]corev1.Container, 0, len(spec.InitContainers)+len(spec.Containers))
	all = append(append(all, spec.InitContainers...), spec.Containers...)
	for ix := range all {
		c := &all[ix]
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				subPathVolumes[m.Name] = true
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				refs = append(refs, ConfigRef{Kind: "ConfigMap", Name: ef.ConfigMapRef.Name, Optional: isTrue(ef.ConfigMapRef.Optional), Container: c.Name, Via: "envFrom", Static: true})
			}
			if ef.SecretRef != nil {
				refs = append(refs, ConfigRef{Kind: "Secret", Name: ef.SecretRef.Name, Optional: isTrue(ef.SecretRef.Optional), Container: c.Name, Via: "envFrom", Static: true})
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				refs = append(refs, ConfigRef{Kind: "ConfigMap", Name: r.Name, Key: r.Key, Optional: isTrue(r.Optional), Container: c.Name, Via: "env " + e.Name, Static: true})
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				refs = append(refs, ConfigRef{Kind: "Secret", Name: r.Name, Key: r.Key, Optional: isTrue(r.Optional), Container: c.Name, Via: "env " + e.Name, Static: true})
			}
		}
	}
	for ix := range spec.Volumes {
		v := &spec.Volumes[ix]
		static := subPathVolumes[v.Name]
		if cm := v.ConfigMap; cm != nil {
			refs = append(refs, itemRefs("ConfigMap", cm.Name, isTrue(cm.Optional), cm.Items, "volume "+v.Name, static)...)
		}
		if s := v.Secret; s != nil {
			refs = append(refs, itemRefs("Secret", s.SecretName, isTrue(s.Optional), s.Items, "volume "+v.Name, static)...)
		}
		if p := v.Projected; p != nil {
			for _, src := range p.Sources {
				if cm := src.ConfigMap; cm != nil {
					refs = append(refs, itemRefs("ConfigMap", cm.Name, isTrue(cm.Optional), cm.Items, "projected volume "+v.Name, static)...)
				}
				if s := src.Secret; s != nil {
					refs = append(refs, itemRefs("Secret", s.Name, isTrue(s.Optional), s.Items, "projected volume "+v.Name, static)...)
				}
			}
		}
	}
	return refs
}

func itemRefs(kind, name string, optional bool, items []corev1.KeyToPath, via string, static bool) []ConfigRef {
	refs := []ConfigRef{{Kind: kind, Name: name, Optional: optional, Via: via, Static: static}}
	for _, it := range items {
		refs = append(refs, ConfigRef{Kind: kind, Name: name, Key: it.Key, Optional: optional, Via: via, Static: static})
	}
	return refs
}

func isTrue(b *bool) bool { return b != nil && *b }

// configObject is what diagnose knows about a ConfigMap or Secret without reading its data:
// the key names and the time of the last change, both from managedFields. Every write
// through the API (apply, create, update, edit) records the fields it set, so the union of
// the managers' f:data / f:binaryData / f:stringData sets is the object's key list.
type configObject struct {
	keys       map[string]bool
	keysKnown  bool
	lastChange time.Time
	// dataChange is the latest time a manager that owns data keys wrote the object: label
	// or annotation edits by other managers do not count.
	dataChange time.Time
	// version is the object's resourceVersion: its identity, compared with the versions the
	// plugin recorded on a pod template (ConfigVersionsAnnotation).
	version string
}

func readConfigObject(m *metav1.PartialObjectMetadata) configObject {
	o := configObject{keys: map[string]bool{}, lastChange: m.CreationTimestamp.Time, version: m.ResourceVersion}
	for _, mf := range m.ManagedFields {
		if mf.Time != nil && mf.Time.After(o.lastChange) {
			o.lastChange = mf.Time.Time
		}
		if mf.FieldsV1 == nil || mf.Subresource != "" {
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		o.keysKnown = true
		for _, set := range []string{"f:data", "f:binaryData", "f:stringData"} {
			raw, ok := fields[set]
			if !ok {
				continue
			}
			if mf.Time != nil && mf.Time.After(o.dataChange) {
				o.dataChange = mf.Time.Time
			}
			var keys map[string]json.RawMessage
			if json.Unmarshal(raw, &keys) != nil {
				continue
			}
			for k := range keys {
				if name, ok := strings.CutPrefix(k, "f:"); ok {
					o.keys[name] = true
				}
			}
		}
	}
	return o
}

// configIndex answers "does this ConfigMap/Secret/key exist" from metadata lists.
type configIndex struct {
	configMaps, secrets map[string]configObject // by namespace/name
	cmKnown, secKnown   bool
}

func newConfigIndex(cms, secrets []metav1.PartialObjectMetadata, cmKnown, secKnown bool) *configIndex {
	ix := &configIndex{configMaps: map[string]configObject{}, secrets: map[string]configObject{}, cmKnown: cmKnown, secKnown: secKnown}
	for i := range cms {
		ix.configMaps[cms[i].Namespace+"/"+cms[i].Name] = readConfigObject(&cms[i])
	}
	for i := range secrets {
		ix.secrets[secrets[i].Namespace+"/"+secrets[i].Name] = readConfigObject(&secrets[i])
	}
	return ix
}

func (ix *configIndex) lookup(ns string, r ConfigRef) (obj configObject, found, known bool) {
	if r.Kind == "Secret" {
		obj, found = ix.secrets[ns+"/"+r.Name]
		return obj, found, ix.secKnown
	}
	obj, found = ix.configMaps[ns+"/"+r.Name]
	return obj, found, ix.cmKnown
}

// MissingRef is a reference that does not resolve.
type MissingRef struct {
	Ref ConfigRef `json:"ref"`
	// Problem is "not found" (the object) or "key not found".
	Problem string `json:"problem"`
}

func (m MissingRef) String() string {
	if m.Problem == "key not found" {
		return fmt.Sprintf("key %q not found in %s %q (%s%s)", m.Ref.Key, m.Ref.Kind, m.Ref.Name, m.Ref.Via, ofContainer(m.Ref.Container))
	}
	return fmt.Sprintf("%s %q not found (%s%s)", m.Ref.Kind, m.Ref.Name, m.Ref.Via, ofContainer(m.Ref.Container))
}

func ofContainer(c string) string {
	if c == "" {
		return ""
	}
	return " of container " + c
}

// missing returns every non-optional reference that does not resolve, deduplicated and in
// a stable order. References to kinds that could not be listed are not reported.
func (ix *configIndex) missing(ns string, refs []ConfigRef) []MissingRef {
	var out []MissingRef
	seen := map[string]bool{}
	for _, r := range refs {
		if r.Optional {
			continue
		}
		obj, found, known := ix.lookup(ns, r)
		if !known {
			continue
		}
		var m MissingRef
		switch {
		case !found:
			// One line per missing object and place, not per key.
			m = MissingRef{Ref: ConfigRef{Kind: r.Kind, Name: r.Name, Container: r.Container, Via: r.Via}, Problem: "not found"}
		case r.Key != "" && obj.keysKnown && !obj.keys[r.Key]:
			m = MissingRef{Ref: r, Problem: "key not found"}
		default:
			continue
		}
		id := m.String()
		if !seen[id] {
			seen[id] = true
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Ref.Kind != out[j].Ref.Kind {
			return out[i].Ref.Kind < out[j].Ref.Kind
		}
		return out[i].Ref.Name < out[j].Ref.Name
	})
	return out
}
