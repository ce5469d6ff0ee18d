package troubleshoot

import (
	"fmt"
	"sort"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// Categories of the Job and CronJob analyzer.
const (
	CategoryJobFailed         Category = "JobFailed"
	CategoryCronJobMissed     Category = "CronJobMissedSchedule"
	CategorySchedulingGated   Category = "SchedulingGated"
	backoffLimitExceeded               = "BackoffLimitExceeded"
	cronJobMissedEventReason           = "MissSchedule"
	cronJobTooManyMissedEvent          = "TooManyMissedTimes"
)

// jobRules: a Job that failed (backoffLimit reached, deadline exceeded) is one finding that
// takes in its failed pods' findings; the pods of a completed Job are never errors (a
// sidecar that exited non-zero at the end included); a CronJob that missed schedules.
func (a *analysis) jobRules() {
	complete := map[string]bool{}
	for i := range a.s.jobs {
		j := &a.s.jobs[i]
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				complete[key(j.Namespace, j.Name)] = true
			}
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				a.jobFailed(j, c)
			}
		}
	}
	// Pods of a completed Job: their failures were retried and the Job succeeded.
	kept := a.findings[:0]
	for _, f := range a.findings {
		if f.Object.Kind == "Job" && f.Failure != nil && complete[key(f.Object.Namespace, f.Object.Name)] {
			continue
		}
		kept = append(kept, f)
	}
	a.findings = kept
	for i := range a.s.cronJobs {
		a.cronJobMissed(&a.s.cronJobs[i])
	}
}

func (a *analysis) jobFailed(j *batchv1.Job, c batchv1.JobCondition) {
	ns := j.Namespace
	ref := ObjectRef{Kind: "Job", Namespace: ns, Name: j.Name}
	limit := int32(6)
	if j.Spec.BackoffLimit != nil {
		limit = *j.Spec.BackoffLimit
	}
	cause := fmt.Sprintf("job %s failed: %s: %s", j.Name, c.Reason, oneLine(c.Message))
	if c.Reason == backoffLimitExceeded {
		cause = fmt.Sprintf("job %s failed: backoffLimit %d reached (%d failed pod(s))", j.Name, limit, j.Status.Failed)
	}
	fd := Finding{Severity: SeverityError, Confidence: ConfidenceHigh, Impact: ImpactDegraded, Category: CategoryJobFailed, Object: ref,
		Cause:    cause,
		Evidence: Evidence{Status: []string{fmt.Sprintf("condition Failed=True %s since %s; succeeded %d, failed %d", c.Reason, c.LastTransitionTime.UTC().Format(timeFormat), j.Status.Succeeded, j.Status.Failed)}, Events: a.events("Job", ns, j.Name)},
	}
	// The pods' findings are this failure seen per pod: take their evidence in.
	kept := a.findings[:0]
	for _, f := range a.findings {
		if f.Object == ref && f.Failure != nil {
			fd.Pods = append(fd.Pods, f.Pods...)
			fd.Details = append(fd.Details, f.Cause)
			fd.Details = append(fd.Details, f.Details...)
			fd.logs = append(fd.logs, f.logs...)
			fd.Evidence.Events = append(fd.Evidence.Events, f.Evidence.Events...)
			continue
		}
		kept = append(kept, f)
	}
	a.findings = kept
	sort.Strings(fd.Pods)
	fd.Fix = []string{fmt.Sprintf("kubectl logs job/%s%s  # the failing pod's output", j.Name, nsFlag(ns))}
	if cj := metav1.GetControllerOf(j); cj != nil && cj.Kind == "CronJob" {
		fd.Fix = append(fd.Fix, fmt.Sprintf("kubectl create job %s-retry --from=cronjob/%s%s  # run it again once fixed", cj.Name, cj.Name, nsFlag(ns)))
	} else {
		fd.Fix = append(fd.Fix, fmt.Sprintf("kubectl get job %s%s -o yaml > job.yaml && kubectl delete job %s%s && kubectl create -f job.yaml  # run it again once fixed (drop status/selector/labels controller-uid)", j.Name, nsFlag(ns), j.Name, nsFlag(ns)))
	}
	a.add(fd)
}

// cronJobMissed reads the CronJob controller's own verdicts: MissSchedule (a start later
// than startingDeadlineSeconds) and TooManyMissedTimes (over 100 missed starts).
func (a *analysis) cronJobMissed(cj *batchv1.CronJob) {
	ns := cj.Namespace
	evs := a.events("CronJob", ns, cj.Name)
	var missed []EventRecord
	for _, e := range evs {
		if e.Reason == cronJobMissedEventReason || e.Reason == cronJobTooManyMissedEvent {
			missed = append(missed, e)
		}
	}
	if len(missed) == 0 {
		return
	}
	last := "never"
	if cj.Status.LastScheduleTime != nil {
		last = term.Age(a.now, cj.Status.LastScheduleTime.Time) + " ago"
	}
	fd := Finding{Severity: SeverityWarning, Confidence: ConfidenceHigh, Impact: ImpactAtRisk, Category: CategoryCronJobMissed,
		Object:   ObjectRef{Kind: "CronJob", Namespace: ns, Name: cj.Name},
		Cause:    fmt.Sprintf("cronjob %s missed scheduled runs (schedule %q, last run %s): %s", cj.Name, cj.Spec.Schedule, last, oneLine(missed[0].Message)),
		Evidence: Evidence{Events: evs},
		Fix:      []string{fmt.Sprintf("kubectl create job %s-manual --from=cronjob/%s%s  # run it now", cj.Name, cj.Name, nsFlag(ns))},
	}
	if cj.Spec.StartingDeadlineSeconds != nil {
		fd.Details = append(fd.Details, fmt.Sprintf("startingDeadlineSeconds %d: a start later than that is skipped (controller down, or concurrencyPolicy Forbid with a job still running)", *cj.Spec.StartingDeadlineSeconds))
	}
	a.add(fd)
}

// schedulingGated reports a pod held by scheduling gates: the scheduler does not look at
// it until something (a queue controller) removes them.
func schedulingGated(p *corev1.Pod) *PodFailure {
	if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" || len(p.Spec.SchedulingGates) == 0 {
		return nil
	}
	names := make([]string, 0, len(p.Spec.SchedulingGates))
	for _, g := range p.Spec.SchedulingGates {
		names = append(names, g.Name)
	}
	return &PodFailure{Category: CategorySchedulingGated, Reason: "SchedulingGated", Message: fmt.Sprintf("held by scheduling gate(s) %v: the scheduler ignores the pod until they are removed", names)}
}
