package strategy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/feastflow/kubectl-feastflow/pkg/audit"
)

// ReleaseAnnotation on a component's Service is its recorded release state: one versioned
// JSON document (Release) that every release verb writes, with a precondition on the
// Service, before it acts, and that promote, abort, rollback, canary-step and status read.
// Which color is live or old, or which step a canary is at, is read from here and never
// inferred from the Deployments: a write by anyone else to a Deployment (a label, an
// annotation, a scale, a restart, a new image) does not change it.
const ReleaseAnnotation = "feastflow.dev/release"

// ReleaseVersion is the schema version of ReleaseAnnotation this plugin writes and reads.
const ReleaseVersion = 1

// Phase is where a release stands.
type Phase string

// The phases of a release.
const (
	// PhaseDeployed: blue-green, a color (Pending) was deployed and not switched to yet.
	PhaseDeployed Phase = "deployed"
	// PhaseSwitched: blue-green, traffic moved to Live; Previous keeps its pods.
	PhaseSwitched Phase = "switched"
	// PhasePromoting: blue-green, promote is retiring Previous (Operation says how far).
	PhasePromoting Phase = "promoting"
	// PhasePromoted: the release is finished; the old color or the canary is retired.
	PhasePromoted Phase = "promoted"
	// PhaseAborted: the pending color or the canary was retired; the old release serves.
	PhaseAborted Phase = "aborted"
	// PhaseRolledBack: blue-green, traffic went back to Live from Previous.
	PhaseRolledBack Phase = "rolled-back"
	// PhaseCanary: a canary serves Weight percent (step Step of the component's steps).
	PhaseCanary Phase = "canary"
)

// Release is the JSON of ReleaseAnnotation.
type Release struct {
	Version  int   `json:"version"`
	Strategy Kind  `json:"strategy"`
	Phase    Phase `json:"phase"`

	// Live is the color traffic was last moved to (blue-green).
	Live string `json:"live,omitempty"`
	// Previous is the color traffic was moved away from: the old color after a switch,
	// what rollback returns to.
	Previous string `json:"previous,omitempty"`
	// Pending is a color deployed and not switched to yet (blue-green, phase deployed).
	Pending string `json:"pending,omitempty"`
	// SwitchedAt is when traffic last moved (blue-green): promote's scale-down delay
	// counts from it.
	SwitchedAt *time.Time `json:"switchedAt,omitempty"`

	// Weight is the canary weight set, in percent; Step is its place (1-based) in the
	// component's steps, 0 when it is not one of them.
	Weight *int `json:"weight,omitempty"`
	Step   int  `json:"step,omitempty"`
	// Health is the canary health baseline after the last completed step.
	Health *CanaryBaseline `json:"health,omitempty"`

	// Operation is the operation in progress: recorded before it acts, removed when it is
	// done. A run that finds one left by an interrupted run completes it (same verb) or
	// refuses (another verb).
	Operation *ReleaseOperation `json:"operation,omitempty"`
	// Last is who did the last recorded change, when and why.
	Last *audit.Operation `json:"last,omitempty"`
	// Workloads are, per color (blue-green) or track (canary), the Deployment's identity
	// and pod template when it was switched to or stepped.
	Workloads map[string]WorkloadRecord `json:"workloads,omitempty"`
	// Autoscalers is what the plugin last saw of the HorizontalPodAutoscalers that scale
	// the component's colors (blue-green); nil when it never looked. A switch lists them
	// only when this is nil or names one for the color traffic leaves, and records what it
	// saw; autoscale resets it to nil.
	Autoscalers *AutoscalerSight `json:"autoscalers,omitempty"`
	// Workload is the release of the component's StatefulSet or DaemonSet (partition
	// canary, pause; workload_state.go), nil when none is under way.
	Workload *workloadState `json:"workload,omitempty"`
	// MigratedFrom names the older annotations this record was built from.
	MigratedFrom []string `json:"migratedFrom,omitempty"`
}

// AutoscalerSight is the HorizontalPodAutoscalers of a component as listed at a time.
type AutoscalerSight struct {
	At time.Time `json:"at"`
	// ByColor names, per color that has one, the HPA that scales its Deployment.
	ByColor map[string]string `json:"byColor,omitempty"`
}

// ReleaseOperation is an operation in progress and its target.
type ReleaseOperation struct {
	Verb string `json:"verb"`
	// From and Target are what it moves from and to: colors, weights ("25%"), or e.g.
	// "blue=0" for a scale-down.
	From   string    `json:"from,omitempty"`
	Target string    `json:"target"`
	User   string    `json:"user,omitempty"`
	Start  time.Time `json:"started"`
	Reason string    `json:"reason,omitempty"`
	// The canary plan of a step: the total kept and each track's replicas.
	FromWeight int   `json:"fromWeight,omitempty"`
	Weight     int   `json:"weight,omitempty"`
	Total      int32 `json:"total,omitempty"`
	Stable     int32 `json:"stable,omitempty"`
	Canary     int32 `json:"canary,omitempty"`
	Forced     bool  `json:"forced,omitempty"`
}

// CanaryBaseline is the health baseline of the canary pods: restart counts and the time
// after which Warning events count.
type CanaryBaseline struct {
	Since    time.Time        `json:"since"`
	Restarts map[string]int32 `json:"restarts,omitempty"`
}

// WorkloadRecord is a Deployment as a release saw it.
type WorkloadRecord struct {
	Deployment string    `json:"deployment"`
	UID        types.UID `json:"uid,omitempty"`
	// PodTemplateHash is the pod-template-hash of its pods (the ReplicaSet's label).
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
	// Template is a digest of its pod template (templateDigest): a later template that
	// differs was changed since.
	Template string    `json:"template,omitempty"`
	Replicas int32     `json:"replicas"`
	At       time.Time `json:"at"`
}

// ReleaseError is a release annotation that cannot be used.
type ReleaseError struct {
	Service string
	Err     error
}

func (e *ReleaseError) Error() string {
	return fmt.Sprintf("service %s: annotation %s is not a release record this plugin can read (%v): fix it or remove it (`kubectl annotate svc %s %s-`), then re-run", e.Service, ReleaseAnnotation, e.Err, e.Service, ReleaseAnnotation)
}

// legacyAnnotations are the annotations the release record replaces; the first write of a
// record removes them.
var legacyAnnotations = []string{PreviousColorAnnotation, CanaryWeightAnnotation, CanaryStateAnnotation, WorkloadStateAnnotation}

// ReadRelease reads the component's release record; a Service recorded by the older
// annotations (previous-color, canary-weight, canary-state, last-operation) is migrated in
// memory (MigratedFrom says from what) and the next write stores the record. A component
// with neither gets a fresh record of its current state.
func ReadRelease(c *Component) (*Release, error) {
	raw, ok := c.Service.Annotations[ReleaseAnnotation]
	if ok {
		var r Release
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, &ReleaseError{Service: c.Namespace() + "/" + c.Name(), Err: err}
		}
		if r.Version > ReleaseVersion {
			return nil, &ReleaseError{Service: c.Namespace() + "/" + c.Name(), Err: fmt.Errorf("version %d is newer than %d: upgrade kubectl-feastflow", r.Version, ReleaseVersion)}
		}
		return &r, nil
	}
	return migrateRelease(c), nil
}

// migrateRelease builds a record from the older annotations, once. Blue-green: live is
// the selector's color, previous the previous-color annotation; the phase is "switched"
// when the last operation recorded a move of traffic to the live color, and a scaled-up
// idle color other than the previous one is taken as pending (deployed, not switched to).
func migrateRelease(c *Component) *Release {
	ann := c.Service.Annotations
	r := &Release{Version: ReleaseVersion, Strategy: c.Strategy, Workload: legacyWorkloadState(ann)}
	if op, ok := audit.ParseOperation(ann); ok {
		r.Last = &op
	}
	for _, k := range append([]string{audit.LastOperationAnnotation}, legacyAnnotations...) {
		if _, ok := ann[k]; ok {
			r.MigratedFrom = append(r.MigratedFrom, k)
		}
	}
	if rel := releaserFor(c); rel != nil {
		rel.migrate(c, r)
	} else {
		r.Phase = PhaseDeployed
	}
	return r
}

// legacyCanaryState parses the feastflow.dev/canary-state annotation of older versions.
func legacyCanaryState(ann map[string]string) *canaryState {
	raw, ok := ann[CanaryStateAnnotation]
	if !ok {
		return nil
	}
	var st canaryState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil
	}
	return &st
}

// encode is the annotation value of the record.
func (r *Release) encode() (string, error) {
	r.Version = ReleaseVersion
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("encode release record: %w", err)
	}
	return string(b), nil
}

// clone is a deep copy of the record (through JSON: it is small).
func (r *Release) clone() *Release {
	b, _ := json.Marshal(r)
	var out Release
	_ = json.Unmarshal(b, &out)
	return &out
}

// WeightSet is the canary weight recorded (0 when none).
func (r *Release) WeightSet() int {
	if r == nil || r.Weight == nil {
		return 0
	}
	return *r.Weight
}

// begin records op as the operation in progress and who started it.
func (r *Release) begin(env *Env, verb, from, target string) *ReleaseOperation {
	op := &ReleaseOperation{Verb: verb, From: from, Target: target, Start: env.now().UTC().Truncate(time.Second)}
	if env.Writer != nil {
		op.User, op.Reason = env.Writer.User, env.Writer.Reason
	}
	r.Operation = op
	return op
}

// recordWorkload stores d's identity and template as seen now; hash is the
// pod-template-hash of its current pods ("" when not known).
func (r *Release) recordWorkload(env *Env, key string, d *appsv1.Deployment, hash string) {
	if d == nil {
		return
	}
	if r.Workloads == nil {
		r.Workloads = map[string]WorkloadRecord{}
	}
	r.Workloads[key] = WorkloadRecord{
		Deployment: d.Name, UID: d.UID, PodTemplateHash: hash, Template: templateDigest(&d.Spec.Template),
		Replicas: desiredReplicas(d), At: env.now().UTC().Truncate(time.Second),
	}
}

// templateDigest is a short digest of a pod template without its pod-template-hash label:
// equal templates have equal digests.
func templateDigest(tpl *corev1.PodTemplateSpec) string {
	t := tpl.DeepCopy()
	delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// podsHash is the pod-template-hash shared by all the pods, or "" when they disagree.
func podsHash(pods []corev1.Pod) string {
	hash := ""
	for i := range pods {
		h := pods[i].Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if h == "" || hash != "" && h != hash {
			return ""
		}
		hash = h
	}
	return hash
}

// Drift says how a recorded workload differs from the Deployment now: re-created (another
// UID) or another pod template, naming who changed the template; "" when it is the same
// or nothing was recorded.
func Drift(rec WorkloadRecord, d *appsv1.Deployment) string {
	if d == nil {
		return fmt.Sprintf("deployment %s recorded at the switch is gone", rec.Deployment)
	}
	if rec.UID != "" && d.UID != "" && rec.UID != d.UID {
		return fmt.Sprintf("deployment %s was deleted and re-created since %s", d.Name, rec.At.Format(time.RFC3339))
	}
	if rec.Template != "" && rec.Template != templateDigest(&d.Spec.Template) {
		msg := fmt.Sprintf("deployment %s's pod template changed since %s", d.Name, rec.At.Format(time.RFC3339))
		if m := lastManager(d, "f:template"); m != "" {
			msg += " (by " + m + ")"
		}
		return msg
	}
	return ""
}

// lastManager names the field manager that last wrote spec.<field> of d (from its
// managedFields; "f:replicas" or "f:template"), with its operation and time.
func lastManager(d *appsv1.Deployment, field string) string {
	return lastManagerOf(d.ManagedFields, field)
}

// lastManagerOf names the latest managedFields entry that owns spec.<field>.
func lastManagerOf(entries []metav1.ManagedFieldsEntry, field string) string {
	var best *metav1.ManagedFieldsEntry
	for i := range entries {
		mf := &entries[i]
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		spec, _ := fields["f:spec"].(map[string]any)
		if _, ok := spec[field]; !ok {
			continue
		}
		if best == nil || mf.Time != nil && (best.Time == nil || !mf.Time.Before(best.Time)) {
			best = mf
		}
	}
	if best == nil {
		return ""
	}
	s := fmt.Sprintf("field manager %q", best.Manager)
	if best.Subresource != "" {
		s += " via /" + best.Subresource
	}
	if best.Time != nil {
		s += " at " + best.Time.UTC().Format(time.RFC3339)
	}
	return s
}

// releasePatch is a merge patch that stores rec (and the last operation) on the Service,
// removes the older annotations it replaces and, with rv set, is refused when the Service
// changed since rv.
func releasePatch(svc *corev1.Service, rec *Release, op *audit.Operation, rv string) (map[string]any, error) {
	raw, err := rec.encode()
	if err != nil {
		return nil, err
	}
	ann := map[string]any{ReleaseAnnotation: raw}
	if op != nil {
		ann[audit.LastOperationAnnotation] = op.Annotation()
	}
	for _, k := range legacyAnnotations {
		if _, ok := svc.Annotations[k]; ok {
			ann[k] = nil
		}
	}
	meta := map[string]any{"annotations": ann}
	if rv != "" {
		meta["resourceVersion"] = rv
	}
	return map[string]any{"metadata": meta}, nil
}

// writeRelease stores rec on the component's Service with the Service's resourceVersion
// as precondition: of two runs that read the same Service, the second fails here, before
// it acts. op (may be nil) is recorded as the last operation and in an Event. The Service
// is updated in place from the answer. Nothing is sent in a client dry run.
func writeRelease(ctx context.Context, env *Env, c *Component, rec *Release, op *audit.Operation, eventReason string) error {
	if op != nil {
		last := *op
		rec.Last = &last
	}
	body, err := releasePatch(c.Service, rec, op, c.Service.ResourceVersion)
	if err != nil {
		return err
	}
	if env.Writer.Client() {
		c.setRelease(rec)
		return nil
	}
	patch, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	svc, err := env.Client.CoreV1().Services(c.Namespace()).Patch(ctx, c.Name(), types.MergePatchType, patch, env.Writer.PatchOptions())
	if apierrors.IsConflict(err) {
		return &ConflictError{Object: fmt.Sprintf("service %s/%s", c.Namespace(), c.Name()), Err: fmt.Errorf("its release record changed since it was read (another release operation at the same time?): nothing changed by this run")}
	}
	if err != nil {
		return writeError("patch", "service", c.Namespace(), c.Name(), err)
	}
	if env.Writer.Live() {
		c.Service = svc
	}
	c.setRelease(rec)
	if op != nil && eventReason != "" {
		env.event(ctx, "Service", "v1", svc, eventReason, *op)
	}
	return nil
}

// finishRelease stores rec once the operation it started is done: preconditioned on the
// Service as this run last wrote it; if someone else wrote the Service since (a label, an
// edit), it re-reads it and, when the record still holds this run's operation, writes
// again. Nothing is sent unless the writes are live.
func finishRelease(ctx context.Context, env *Env, c *Component, rec *Release, started *ReleaseOperation) error {
	if !env.Writer.Live() {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := writeRelease(ctx, env, c, rec, nil, "")
		var ce *ConflictError
		if err == nil || !asConflict(err, &ce) || attempt >= 3 {
			if err != nil {
				return fmt.Errorf("record the finished %s on service %s/%s: %w (the workloads are right; re-run to record it)", rec.Phase, c.Namespace(), c.Name(), err)
			}
			return nil
		}
		svc, gerr := env.Client.CoreV1().Services(c.Namespace()).Get(ctx, c.Name(), metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("re-read service %s/%s: %w", c.Namespace(), c.Name(), gerr)
		}
		c.Service = svc
		now, rerr := ReadRelease(c)
		if rerr != nil {
			return rerr
		}
		if now.Operation == nil && now.Phase == rec.Phase && now.WeightSet() == rec.WeightSet() && now.Live == rec.Live && now.Previous == rec.Previous && now.Pending == rec.Pending {
			return nil // another run of the same operation finished it and recorded the same
		}
		if started != nil && (now.Operation == nil || !now.Operation.Start.Equal(started.Start) || now.Operation.Verb != started.Verb || now.Operation.User != started.User) {
			return fmt.Errorf("service %s/%s: another run changed the release record while this %s ran (now: %s): nothing more recorded; check with `kubectl feastflow status %s`", c.Namespace(), c.Name(), started.Verb, describeRelease(now), c.Name())
		}
	}
}

func asConflict(err error, target **ConflictError) bool {
	ce, ok := err.(*ConflictError)
	if ok {
		*target = ce
	}
	return ok
}

// describeRelease is a one-line account of a record, for messages.
func describeRelease(r *Release) string {
	if r == nil {
		return "no record"
	}
	var parts []string
	parts = append(parts, "phase "+string(r.Phase))
	if r.Live != "" {
		parts = append(parts, "live "+r.Live)
	}
	if r.Previous != "" {
		parts = append(parts, "previous "+r.Previous)
	}
	if r.Pending != "" {
		parts = append(parts, "pending "+r.Pending)
	}
	if r.Weight != nil {
		parts = append(parts, fmt.Sprintf("weight %d %%", *r.Weight))
	}
	if op := r.Operation; op != nil {
		s := fmt.Sprintf("%s to %s in progress since %s", op.Verb, op.Target, op.Start.Format(time.RFC3339))
		if op.User != "" {
			s += " by " + op.User
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// ForeignChangeError is a change someone else made to a Deployment while an operation
// was under way (between its read and a step that removes capacity, or during a wait):
// the operation stops rather than act on a state it did not plan for.
type ForeignChangeError struct {
	Object  string // deployment/NAME
	Field   string // spec.replicas, spec.template, metadata.uid, service selector
	From    string
	To      string
	Manager string // who, from managedFields
	// Done says what the operation had done and what it did not do.
	Done string
}

func (e *ForeignChangeError) Error() string {
	msg := fmt.Sprintf("%s: %s changed from %s to %s while this operation ran", e.Object, e.Field, e.From, e.To)
	if e.Manager != "" {
		msg += " (" + e.Manager + ")"
	}
	msg += ": stopped"
	if e.Done != "" {
		msg += "; " + e.Done
	}
	return msg
}

// checkUnchanged compares a Deployment re-read now with the one the operation planned on
// (want: replicas and template) and returns a *ForeignChangeError naming the first
// difference and its field manager.
func checkUnchanged(want, now *appsv1.Deployment, wantReplicas int32) error {
	obj := "deployment/" + want.Name
	switch {
	case now == nil:
		return &ForeignChangeError{Object: obj, Field: "metadata", From: "present", To: "deleted"}
	case want.UID != "" && now.UID != want.UID:
		return &ForeignChangeError{Object: obj, Field: "metadata.uid", From: string(want.UID), To: string(now.UID) + " (deleted and re-created)"}
	case desiredReplicas(now) != wantReplicas:
		return &ForeignChangeError{Object: obj, Field: "spec.replicas", From: strconv.Itoa(int(wantReplicas)), To: strconv.Itoa(int(desiredReplicas(now))), Manager: lastManager(now, "f:replicas")}
	case templateDigest(&want.Spec.Template) != templateDigest(&now.Spec.Template):
		return &ForeignChangeError{Object: obj, Field: "spec.template", From: imagesText(TemplateImages(&want.Spec.Template)) + " (" + templateDigest(&want.Spec.Template) + ")", To: imagesText(TemplateImages(&now.Spec.Template)) + " (" + templateDigest(&now.Spec.Template) + ")", Manager: lastManager(now, "f:template")}
	}
	return nil
}

// reread gets the Service and the namespace's Deployments again (two requests in
// parallel): the state a step that removes capacity checks first. The named Deployments
// that are gone are nil in the map.
func reread(ctx context.Context, env *Env, c *Component, names ...string) (*corev1.Service, map[string]*appsv1.Deployment, error) {
	var svc *corev1.Service
	var deps *appsv1.DeploymentList
	var svcErr, depErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		svc, svcErr = env.Client.CoreV1().Services(c.Namespace()).Get(ctx, c.Name(), metav1.GetOptions{})
	}()
	go func() {
		defer wg.Done()
		deps, depErr = env.Client.AppsV1().Deployments(c.Namespace()).List(ctx, metav1.ListOptions{})
	}()
	wg.Wait()
	if svcErr != nil {
		return nil, nil, fmt.Errorf("re-read service %s/%s before scaling down: %w", c.Namespace(), c.Name(), svcErr)
	}
	if depErr != nil {
		return nil, nil, fmt.Errorf("re-read deployments in %s before scaling down: %w", c.Namespace(), depErr)
	}
	out := map[string]*appsv1.Deployment{}
	for _, n := range names {
		out[n] = nil
		for i := range deps.Items {
			if deps.Items[i].Name == n {
				out[n] = &deps.Items[i]
			}
		}
	}
	return svc, out, nil
}

// scaleGuarded is the scale-down of a step that removes capacity: one JSON patch that
// tests the Deployment's generation as it was just re-read (any change to its spec by
// anyone since bumps it; status updates do not) and sets the replicas and the
// last-operation record. A failed test is a *ConflictError: nothing was written.
func scaleGuarded(ctx context.Context, env *Env, d *appsv1.Deployment, replicas int32, verb, reason string) (*Change, error) {
	from := desiredReplicas(d)
	if from == replicas {
		return nil, nil
	}
	op := env.Writer.Operation(verb, "replicas="+strconv.Itoa(int(from)), "replicas="+strconv.Itoa(int(replicas)))
	ops := []map[string]any{
		{"op": "test", "path": "/metadata/generation", "value": d.Generation},
		{"op": "replace", "path": "/spec/replicas", "value": replicas},
	}
	ops = append(ops, annotationOps(d, map[string]string{audit.LastOperationAnnotation: op.Annotation()})...)
	ch := &Change{Object: "deployment/" + d.Name, Field: "spec.replicas", From: strconv.Itoa(int(from)), To: strconv.Itoa(int(replicas))}
	env.report("scaling deployment/%s from %d to %d replicas", d.Name, from, replicas)
	if err := writeDeployment(ctx, env, d, types.JSONPatchType, ops, reason, op); err != nil {
		return nil, err
	}
	d.Spec.Replicas = &replicas
	return ch, nil
}

// lastServiceManager names who last wrote the Service's selector (managedFields).
func lastServiceManager(svc *corev1.Service) string {
	return lastManagerOf(svc.ManagedFields, "f:selector")
}
