package troubleshoot

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Category names a pod failure mode (and, in a diagnose Finding, a problem of any object).
type Category string

// The pod failure modes ClassifyPod recognises. Their values are the kubelet's or the
// scheduler's reason where one exists, so that they read like `kubectl get pods`.
const (
	// CategoryImagePull: ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull.
	CategoryImagePull Category = "ImagePullBackOff"
	// CategoryCrashLoop: a container that keeps exiting and is restarted with back-off.
	CategoryCrashLoop Category = "CrashLoopBackOff"
	// CategoryOOMKilled: a crash-looping (or failed) container whose last exit was OOMKilled.
	CategoryOOMKilled Category = "OOMKilled"
	// CategoryInitFailed: an init container exited non-zero or crash-loops (Init:Error,
	// Init:CrashLoopBackOff); the app containers never start.
	CategoryInitFailed Category = "InitContainerFailed"
	// CategoryConfigError: CreateContainerConfigError (a missing ConfigMap, Secret or key)
	// and CreateContainerError.
	CategoryConfigError Category = "CreateContainerConfigError"
	// CategoryRunError: the runtime could not start the process (RunContainerError,
	// ContainerCannotRun, StartError).
	CategoryRunError Category = "RunContainerError"
	// CategoryUnschedulable: the scheduler found no node (PodScheduled=False/Unschedulable).
	CategoryUnschedulable Category = "Unschedulable"
	// CategoryEvicted: the kubelet evicted the pod (phase Failed, reason Evicted).
	CategoryEvicted Category = "Evicted"
	// CategoryPodFailed: the pod ended in phase Failed for another reason.
	CategoryPodFailed Category = "PodFailed"
)

// crashLoopMinRestarts is how many restarts make a running-but-not-ready container count as
// crash-looping between two back-offs. Kubelet flips a crash-looping container between
// waiting (CrashLoopBackOff), running and terminated; without this rule a watch would see
// the failure come and go on every restart. One restart alone is not enough: a container
// that crashed once and recovered is healthy.
const crashLoopMinRestarts = 2

// PodFailure is why a pod cannot become ready, read from its status alone.
type PodFailure struct {
	Category  Category `json:"category"`
	Container string   `json:"container,omitempty"` // the container (or init container) at fault, if any
	Init      bool     `json:"init,omitempty"`
	Image     string   `json:"image,omitempty"`
	Reason    string   `json:"reason,omitempty"`  // kubelet/scheduler reason, e.g. "ErrImagePull"
	Message   string   `json:"message,omitempty"` // kubelet/scheduler message (unescaped; printers escape)
	ExitCode  int32    `json:"exitCode,omitempty"`
	Signal    int32    `json:"signal,omitempty"`
	Restarts  int32    `json:"restarts,omitempty"`
}

var (
	imagePullReasons = map[string]bool{
		"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
		"ErrImageNeverPull": true, "RegistryUnavailable": true, "ImageInspectError": true,
	}
	configReasons = map[string]bool{"CreateContainerConfigError": true, "CreateContainerError": true}
	runReasons    = map[string]bool{"RunContainerError": true, "ContainerCannotRun": true, "StartError": true}
)

// ClassifyPod returns the failure that stops the pod from becoming ready, or nil while the
// pod is healthy, still starting normally (ContainerCreating, PodInitializing, pulling),
// terminating or completed. It makes no API call and allocates only for the result, so a
// watch may call it on every update. The answer is stable: for a given status it always
// names the same container (the first at fault in spec order, init containers first).
func ClassifyPod(pod *corev1.Pod) *PodFailure {
	if pod == nil || pod.DeletionTimestamp != nil {
		return nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return nil
	case corev1.PodFailed:
		return classifyFailedPod(pod)
	}
	if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
		return &PodFailure{Category: CategoryUnschedulable, Reason: c.Reason, Message: c.Message}
	}
	for i := range pod.Spec.InitContainers {
		spec := &pod.Spec.InitContainers[i]
		st := containerStatus(pod.Status.InitContainerStatuses, spec.Name)
		if st == nil {
			continue
		}
		if f := classifyInit(st); f != nil {
			f.Image = imageOf(spec, st)
			return f
		}
	}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		st := containerStatus(pod.Status.ContainerStatuses, spec.Name)
		if st == nil {
			continue
		}
		if f := classifyContainer(st); f != nil {
			f.Image = imageOf(spec, st)
			return f
		}
	}
	return nil
}

// classifyInit classifies an init container (sidecars included): waiting on its image or
// its config like any container; otherwise any non-zero exit, now or before the current
// retry, is a failed init container, because the app containers wait for it.
func classifyInit(st *corev1.ContainerStatus) *PodFailure {
	if f := classifyWaiting(st, true); f != nil {
		if f.Category == CategoryCrashLoop || f.Category == CategoryOOMKilled {
			f.Category = CategoryInitFailed
		}
		return f
	}
	if t := st.State.Terminated; t != nil && t.ExitCode != 0 {
		return terminatedFailure(CategoryInitFailed, st, t, true)
	}
	if st.State.Running != nil && st.RestartCount > 0 {
		if t := st.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 {
			return terminatedFailure(CategoryInitFailed, st, t, true)
		}
	}
	return nil
}

// classifyContainer classifies an app container.
func classifyContainer(st *corev1.ContainerStatus) *PodFailure {
	if f := classifyWaiting(st, false); f != nil {
		return f
	}
	if t := st.State.Terminated; t != nil && t.ExitCode != 0 {
		// Between the exit and the back-off: report the crash now rather than on the next update.
		return terminatedFailure(crashCategory(t), st, t, false)
	}
	if st.State.Running != nil && !st.Ready && st.RestartCount >= crashLoopMinRestarts {
		if t := st.LastTerminationState.Terminated; t != nil && (t.ExitCode != 0 || t.Reason == "OOMKilled") {
			return terminatedFailure(crashCategory(t), st, t, false)
		}
	}
	return nil
}

// classifyWaiting classifies the waiting reasons that are failures; ContainerCreating,
// PodInitializing and the like are not.
func classifyWaiting(st *corev1.ContainerStatus, init bool) *PodFailure {
	w := st.State.Waiting
	if w == nil {
		return nil
	}
	f := &PodFailure{Container: st.Name, Init: init, Reason: w.Reason, Message: w.Message, Restarts: st.RestartCount}
	switch {
	case imagePullReasons[w.Reason]:
		f.Category = CategoryImagePull
	case configReasons[w.Reason]:
		f.Category = CategoryConfigError
	case runReasons[w.Reason]:
		f.Category = CategoryRunError
	case w.Reason == "CrashLoopBackOff":
		f.Category = CategoryCrashLoop
		if t := st.LastTerminationState.Terminated; t != nil {
			f.Category = crashCategory(t)
			f.ExitCode, f.Signal = t.ExitCode, t.Signal
			if t.Message != "" {
				f.Message = t.Message
			}
		}
	default:
		return nil
	}
	return f
}

func crashCategory(t *corev1.ContainerStateTerminated) Category {
	if t.Reason == "OOMKilled" {
		return CategoryOOMKilled
	}
	if runReasons[t.Reason] {
		return CategoryRunError
	}
	return CategoryCrashLoop
}

func terminatedFailure(cat Category, st *corev1.ContainerStatus, t *corev1.ContainerStateTerminated, init bool) *PodFailure {
	return &PodFailure{
		Category: cat, Container: st.Name, Init: init, Reason: t.Reason, Message: t.Message,
		ExitCode: t.ExitCode, Signal: t.Signal, Restarts: st.RestartCount,
	}
}

// classifyFailedPod names why a pod ended in phase Failed.
func classifyFailedPod(pod *corev1.Pod) *PodFailure {
	if pod.Status.Reason == "Evicted" {
		return &PodFailure{Category: CategoryEvicted, Reason: pod.Status.Reason, Message: pod.Status.Message}
	}
	if appsSucceeded(pod) {
		return nil // only a sidecar exited non-zero at the end: the pod's work completed
	}
	f := &PodFailure{Category: CategoryPodFailed, Reason: pod.Status.Reason, Message: pod.Status.Message}
	if f.Reason == "" {
		f.Reason = string(corev1.PodFailed)
	}
	groups := []struct {
		sts  []corev1.ContainerStatus
		init bool
	}{{pod.Status.InitContainerStatuses, true}, {pod.Status.ContainerStatuses, false}}
	for _, g := range groups {
		for i := range g.sts {
			if g.init && isSidecar(pod, g.sts[i].Name) {
				continue // stopped by the kubelet when the pod ended: not the cause
			}
			if t := g.sts[i].State.Terminated; t != nil && t.ExitCode != 0 {
				f.Container, f.Init, f.Image = g.sts[i].Name, g.init, g.sts[i].Image
				f.ExitCode, f.Signal, f.Restarts = t.ExitCode, t.Signal, g.sts[i].RestartCount
				if f.Message == "" {
					f.Message = t.Message
				}
				return f
			}
		}
	}
	return f
}

// appsSucceeded reports a pod whose app containers all exited 0 and whose only non-zero
// exits are sidecars (init containers with restartPolicy Always), which the kubelet stops
// once the app containers are done.
func appsSucceeded(pod *corev1.Pod) bool {
	if len(pod.Status.ContainerStatuses) == 0 {
		return false
	}
	for i := range pod.Status.ContainerStatuses {
		t := pod.Status.ContainerStatuses[i].State.Terminated
		if t == nil || t.ExitCode != 0 {
			return false
		}
	}
	for i := range pod.Status.InitContainerStatuses {
		st := &pod.Status.InitContainerStatuses[i]
		if t := st.State.Terminated; t != nil && t.ExitCode != 0 && !isSidecar(pod, st.Name) {
			return false
		}
	}
	return true
}

func isSidecar(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func containerStatus(sts []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range sts {
		if sts[i].Name == name {
			return &sts[i]
		}
	}
	return nil
}

// imageOf prefers the spec's image: the status holds the resolved image, which for a pull
// that never succeeded is the same string and for InvalidImageName may be empty.
func imageOf(spec *corev1.Container, st *corev1.ContainerStatus) string {
	if spec.Image != "" {
		return spec.Image
	}
	return st.Image
}

// ExitCodeMeaning explains a container exit code the way an on-call engineer reads it.
func ExitCodeMeaning(code int32, reason string) string {
	if reason == "OOMKilled" {
		return "killed by the kernel: out of memory (OOMKilled)"
	}
	switch code {
	case 0:
		return "exited successfully"
	case 1:
		return "application error"
	case 2:
		return "misuse of a shell builtin or invalid arguments"
	case 126:
		return "command found but not executable (permission denied or not a binary)"
	case 127:
		return "command not found in the image (check command/args and the image's PATH)"
	case 128:
		return "invalid exit argument"
	case 134:
		return "aborted (SIGABRT)"
	case 137:
		return "killed (SIGKILL): out of memory or a failed liveness probe"
	case 139:
		return "segmentation fault (SIGSEGV)"
	case 143:
		return "terminated (SIGTERM): stopped by kubelet, e.g. after a failed liveness probe or on shutdown"
	}
	if code > 128 && code < 160 {
		return fmt.Sprintf("killed by signal %d", code-128)
	}
	return "application error"
}

// String describes the failure on one line, e.g.
// `container "app": image "x:y" not found or no access (ImagePullBackOff)`. Message texts
// come from the server: callers that print to a terminal escape the result.
func (f *PodFailure) String() string {
	if f == nil {
		return ""
	}
	who := fmt.Sprintf("container %q", f.Container)
	if f.Init {
		who = "init " + who
	}
	reason := f.Reason
	if reason == "" {
		reason = string(f.Category)
	}
	switch f.Category {
	case CategoryUnschedulable:
		msg := oneLine(orDefault(f.Message, "no node fits"))
		// The scheduler appends its preemption verdict; it repeats the cause.
		if i := strings.Index(msg, " preemption:"); i > 0 {
			msg = msg[:i]
		}
		return "pod cannot be scheduled: " + msg + " (Unschedulable)"
	case CategoryEvicted:
		return "pod was evicted: " + oneLine(orDefault(f.Message, "by the kubelet")) + " (Evicted)"
	case CategoryImagePull:
		if f.Reason == "InvalidImageName" {
			return fmt.Sprintf("%s: image %q is not a valid image reference (InvalidImageName)", who, f.Image)
		}
		if f.Reason == "ErrImageNeverPull" {
			return fmt.Sprintf("%s: image %q is not on the node and imagePullPolicy is Never (ErrImageNeverPull)", who, f.Image)
		}
		return fmt.Sprintf("%s: image %q not found or no access (%s)", who, f.Image, reason)
	case CategoryConfigError, CategoryRunError:
		return fmt.Sprintf("%s: %s (%s)", who, oneLine(orDefault(f.Message, "cannot be created")), reason)
	case CategoryOOMKilled:
		return fmt.Sprintf("%s was OOMKilled (exit code %d), %s", who, f.ExitCode, restarts(f.Restarts))
	case CategoryCrashLoop:
		return fmt.Sprintf("%s keeps crashing: exit code %d, %s, %s (CrashLoopBackOff)", who, f.ExitCode, ExitCodeMeaning(f.ExitCode, f.Reason), restarts(f.Restarts))
	case CategoryInitFailed:
		status := "Init:Error"
		if f.Reason == "CrashLoopBackOff" {
			status = "Init:CrashLoopBackOff"
		}
		return fmt.Sprintf("%s failed with exit code %d (%s), app containers not started, %s (%s)", who, f.ExitCode, ExitCodeMeaning(f.ExitCode, f.Reason), restarts(f.Restarts), status)
	case CategoryPodFailed:
		if f.Container != "" {
			return fmt.Sprintf("pod failed: %s exited with code %d (%s)", who, f.ExitCode, ExitCodeMeaning(f.ExitCode, ""))
		}
		return "pod failed: " + oneLine(orDefault(f.Message, reason))
	}
	return fmt.Sprintf("%s: %s", reason, oneLine(f.Message))
}

func restarts(n int32) string {
	if n == 0 {
		return "not restarted yet"
	}
	if n == 1 {
		return "restarted once"
	}
	return fmt.Sprintf("restarted %d times", n)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// oneLine folds a multi-line server message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")), " ")
}
