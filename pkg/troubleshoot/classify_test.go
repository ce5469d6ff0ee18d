package troubleshoot

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testPod is a pod with one init container "migrate" and one container "app", both with
// no status yet; the options shape its status.
func testPod(opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: "migrate:1"}},
			Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func scheduled(p *corev1.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
}

func initDone(p *corev1.Pod) {
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
		Name: "migrate", Ready: true,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}},
	}}
}

func withInit(st corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		st.Name = "migrate"
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{st}
	}
}

func withApp(st corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		st.Name = "app"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
	}
}

func running(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func terminated(code int32, reason string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}
}

func runningState() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func TestClassifyPod(t *testing.T) {
	tests := []struct {
		name      string
		pod       *corev1.Pod
		want      Category // "" = healthy, nil expected
		container string
		init      bool
		exit      int32
		str       string // substring of String()
	}{
		// Image pulls.
		{name: "ErrImagePull", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("ErrImagePull", "manifest unknown")})),
			want: CategoryImagePull, container: "app", str: `container "app": image "app:1" not found or no access (ErrImagePull)`},
		{name: "ImagePullBackOff", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("ImagePullBackOff", "Back-off pulling image")})),
			want: CategoryImagePull, container: "app", str: "(ImagePullBackOff)"},
		{name: "InvalidImageName", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("InvalidImageName", "bad")})),
			want: CategoryImagePull, container: "app", str: "not a valid image reference"},
		{name: "ErrImageNeverPull", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("ErrImageNeverPull", "")})),
			want: CategoryImagePull, container: "app", str: "imagePullPolicy is Never"},
		{name: "init container image pull", pod: testPod(scheduled, withInit(corev1.ContainerStatus{State: waiting("ImagePullBackOff", "")})),
			want: CategoryImagePull, container: "migrate", init: true, str: `init container "migrate"`},
		{name: "negative: ContainerCreating while pulling", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("ContainerCreating", "")}))},

		// Crash loops.
		{name: "CrashLoopBackOff exit 1", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("CrashLoopBackOff", "back-off 40s restarting failed container"), RestartCount: 4,
			LastTerminationState: corev1.ContainerState{Terminated: terminated(1, "Error")},
		})), want: CategoryCrashLoop, container: "app", exit: 1, str: "exit code 1, application error, restarted 4 times (CrashLoopBackOff)"},
		{name: "CrashLoopBackOff without last state", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("CrashLoopBackOff", ""), RestartCount: 1,
		})), want: CategoryCrashLoop, container: "app"},
		{name: "terminated with error before the back-off", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: terminated(127, "Error")}, RestartCount: 0,
		})), want: CategoryCrashLoop, container: "app", exit: 127, str: "command not found"},
		{name: "running between back-offs, not ready, restarted 3 times", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: runningState(), RestartCount: 3, LastTerminationState: corev1.ContainerState{Terminated: terminated(143, "Error")},
		})), want: CategoryCrashLoop, container: "app", exit: 143},
		{name: "negative: restarted once long ago, now running and ready", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: runningState(), Ready: true, RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: terminated(1, "Error")},
		}))},
		{name: "negative: restarted many times, running and ready", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: runningState(), Ready: true, RestartCount: 9, LastTerminationState: corev1.ContainerState{Terminated: terminated(1, "Error")},
		}))},
		{name: "negative: running, not ready yet, never restarted", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{State: runningState()}))},
		{name: "negative: exited 0 under restartPolicy Always, not yet restarted", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: terminated(0, "Completed")},
		}))},

		// OOMKilled.
		{name: "OOMKilled crash loop", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("CrashLoopBackOff", ""), RestartCount: 2, LastTerminationState: corev1.ContainerState{Terminated: terminated(137, "OOMKilled")},
		})), want: CategoryOOMKilled, container: "app", exit: 137, str: `container "app" was OOMKilled (exit code 137), restarted 2 times`},
		{name: "OOMKilled just now", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: terminated(137, "OOMKilled")},
		})), want: CategoryOOMKilled, container: "app", exit: 137},
		{name: "negative: OOMKilled once, recovered and ready", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{
			State: runningState(), Ready: true, RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: terminated(137, "OOMKilled")},
		}))},

		// Init containers.
		{name: "init container exited non-zero (Init:Error)", pod: testPod(scheduled, withInit(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: terminated(1, "Error")},
		}), withApp(corev1.ContainerStatus{State: waiting("PodInitializing", "")})),
			want: CategoryInitFailed, container: "migrate", init: true, exit: 1, str: `init container "migrate" failed with exit code 1 (application error), app containers not started, not restarted yet (Init:Error)`},
		{name: "init container CrashLoopBackOff", pod: testPod(scheduled, withInit(corev1.ContainerStatus{
			State: waiting("CrashLoopBackOff", ""), RestartCount: 3, LastTerminationState: corev1.ContainerState{Terminated: terminated(2, "Error")},
		})), want: CategoryInitFailed, container: "migrate", init: true, exit: 2, str: "(Init:CrashLoopBackOff)"},
		{name: "init container retrying after a failure", pod: testPod(scheduled, withInit(corev1.ContainerStatus{
			State: runningState(), RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: terminated(1, "Error")},
		})), want: CategoryInitFailed, container: "migrate", init: true, exit: 1},
		{name: "negative: init container running first time", pod: testPod(scheduled, withInit(corev1.ContainerStatus{State: runningState()}))},
		{name: "negative: PodInitializing", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("PodInitializing", "")}))},
		{name: "negative: init container waiting PodInitializing", pod: testPod(scheduled, withInit(corev1.ContainerStatus{State: waiting("PodInitializing", "")}))},

		// Config errors.
		{name: "CreateContainerConfigError", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("CreateContainerConfigError", `configmap "app-config" not found`),
		})), want: CategoryConfigError, container: "app", str: `container "app": configmap "app-config" not found (CreateContainerConfigError)`},
		{name: "CreateContainerError", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("CreateContainerError", "context deadline exceeded"),
		})), want: CategoryConfigError, container: "app", str: "(CreateContainerError)"},
		{name: "RunContainerError", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{
			State: waiting("RunContainerError", "exec: \"/app\": permission denied"),
		})), want: CategoryRunError, container: "app"},
		{name: "negative: ContainerCreating", pod: testPod(scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("ContainerCreating", "")}))},

		// Scheduling.
		{name: "Unschedulable", pod: testPod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
				Message: "0/3 nodes are available: 3 Insufficient cpu."}}
		}), want: CategoryUnschedulable, str: "pod cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu. (Unschedulable)"},
		{name: "negative: Pending, not yet seen by the scheduler", pod: testPod()},
		{name: "negative: PodScheduled False but SchedulingGated", pod: testPod(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
		})},

		// Terminal phases.
		{name: "Evicted", pod: testPod(func(p *corev1.Pod) {
			p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
		}), want: CategoryEvicted, str: "pod was evicted: The node was low on resource: memory. (Evicted)"},
		{name: "Failed pod with a failed container", pod: testPod(initDone, withApp(corev1.ContainerStatus{State: corev1.ContainerState{Terminated: terminated(3, "Error")}}), func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
		}), want: CategoryPodFailed, container: "app", exit: 3},
		{name: "negative: Succeeded", pod: testPod(initDone, withApp(corev1.ContainerStatus{State: corev1.ContainerState{Terminated: terminated(0, "Completed")}}), func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
		})},
		{name: "negative: terminating pod in CrashLoopBackOff", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{State: waiting("CrashLoopBackOff", "")}), func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		})},
		{name: "negative: healthy running pod", pod: testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{State: runningState(), Ready: true}))},
		{name: "negative: nil pod", pod: nil},

		// Order: the first container at fault in spec order, init containers first.
		{name: "init failure wins over app waiting", pod: testPod(scheduled, withInit(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: terminated(1, "Error")},
		}), withApp(corev1.ContainerStatus{State: waiting("CreateContainerConfigError", "x")})), want: CategoryInitFailed, container: "migrate", init: true, exit: 1},
		{name: "spec order, not status order", pod: testPod(scheduled, initDone, func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "side:1"})
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "sidecar", State: waiting("CrashLoopBackOff", "")},
				{Name: "app", State: waiting("ErrImagePull", "")},
			}
		}), want: CategoryImagePull, container: "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyPod(tt.pod)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("ClassifyPod = %+v (%s), want nil", got, got)
				}
				return
			}
			if got == nil {
				t.Fatalf("ClassifyPod = nil, want %s", tt.want)
			}
			if got.Category != tt.want || got.Container != tt.container || got.Init != tt.init || got.ExitCode != tt.exit {
				t.Errorf("ClassifyPod = {%s %q init=%v exit=%d}, want {%s %q init=%v exit=%d}",
					got.Category, got.Container, got.Init, got.ExitCode, tt.want, tt.container, tt.init, tt.exit)
			}
			s := got.String()
			if tt.str != "" && !strings.Contains(s, tt.str) {
				t.Errorf("String() = %q, want it to contain %q", s, tt.str)
			}
			if strings.ContainsAny(s, "\n") {
				t.Errorf("String() spans lines: %q", s)
			}
			// Stable: the same status gives the same answer.
			if again := ClassifyPod(tt.pod); *again != *got {
				t.Errorf("second call = %+v, first %+v", again, got)
			}
		})
	}
}

func TestPodFailureStringOneLine(t *testing.T) {
	f := &PodFailure{Category: CategoryConfigError, Container: "app", Reason: "CreateContainerConfigError", Message: "line one\nline two\r\n"}
	if got, want := f.String(), `container "app": line one line two (CreateContainerConfigError)`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	var nilF *PodFailure
	if nilF.String() != "" {
		t.Error("nil String() not empty")
	}
}

func TestExitCodeMeaning(t *testing.T) {
	for code, want := range map[int32]string{1: "application error", 126: "not executable", 127: "command not found", 137: "SIGKILL", 143: "SIGTERM", 130: "signal 2"} {
		if got := ExitCodeMeaning(code, "Error"); !strings.Contains(got, want) {
			t.Errorf("ExitCodeMeaning(%d) = %q, want %q", code, got, want)
		}
	}
	if got := ExitCodeMeaning(137, "OOMKilled"); !strings.Contains(got, "out of memory") {
		t.Errorf("OOMKilled meaning = %q", got)
	}
}

// BenchmarkClassifyPod guards the cost of the call deploy's watch makes on every update.
func BenchmarkClassifyPod(b *testing.B) {
	p := testPod(running, scheduled, initDone, withApp(corev1.ContainerStatus{State: runningState(), Ready: true}))
	b.ReportAllocs()
	for b.Loop() {
		if ClassifyPod(p) != nil {
			b.Fatal("healthy pod classified")
		}
	}
}
