package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/term"
)

// deployWorkload is deploy on a StatefulSet or DaemonSet component.
func deployWorkload(ctx context.Context, env *strategy.Env, c *strategy.Component, opts strategy.DeployOptions, canary bool) (*strategy.DeployResult, error) {
	if c.Strategy == strategy.DaemonSetStrategy {
		if canary {
			return nil, strategy.DaemonSetCanaryError(c)
		}
		return strategy.DeployDaemonSet(ctx, env, c, opts)
	}
	return strategy.DeployStatefulSet(ctx, env, c, strategy.WorkloadDeployOptions{DeployOptions: opts, Canary: canary})
}

// stepWorkload is canary-step on a StatefulSet component; a DaemonSet is refused with the
// reason (exit 1: a request was needed to know).
func stepWorkload(ctx context.Context, env *strategy.Env, c *strategy.Component, opts strategy.CanaryStepOptions) (*strategy.CanaryStepResult, error) {
	if c.Strategy == strategy.DaemonSetStrategy {
		return nil, strategy.DaemonSetCanaryError(c)
	}
	return strategy.StepStatefulSet(ctx, env, c, opts)
}

// renderWorkloads prints the StatefulSets and DaemonSets of the status report: revisions,
// counts, how they roll, the recorded release, and a DaemonSet's pods per node pool.
func renderWorkloads(w io.Writer, rep *strategy.StatusReport, now time.Time) error {
	var rows []strategy.WorkloadStatus
	var comps []string
	for _, c := range rep.Components {
		for _, ws := range c.Workloads {
			rows = append(rows, ws)
			comps = append(comps, c.Name)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "WORKLOAD", "COMPONENT", "IMAGES", "DESIRED", "CURRENT", "UPDATED", "READY", "REVISION (CURRENT→UPDATE)", "STRATEGY", "ROLLOUT", "RELEASE", "LAST OPERATION")
	var pools []string
	for i, ws := range rows {
		rev := ws.CurrentRevision
		if ws.UpdateRevision != "" && ws.UpdateRevision != ws.CurrentRevision {
			rev += "→" + ws.UpdateRevision
		}
		how := ws.UpdateStrategy
		if ws.Partition != nil {
			how += fmt.Sprintf(" partition %d", *ws.Partition)
		}
		if ws.MaxUnavailable != "" {
			how += " maxUnavailable " + ws.MaxUnavailable
		}
		if ws.PodManagementPolicy != "" {
			how += " " + ws.PodManagementPolicy
		}
		release := ""
		if r := ws.Release; r != nil {
			release = fmt.Sprintf("%s %s %d%% of %s", r.Verb, r.Phase, r.Weight, r.Images)
			if r.Paused {
				release = "paused; " + release
			}
		}
		t.row(strings.ToLower(ws.Kind)+"/"+ws.Name, comps[i], imagesCell(ws.Images), fmt.Sprint(ws.Desired), fmt.Sprint(ws.Current), fmt.Sprint(ws.Updated), fmt.Sprint(ws.Ready), rev, how, ws.Rollout, release, opText(ws.LastOperation, now))
		for _, p := range ws.Pools {
			line := fmt.Sprintf("  %s/%s pool %s: %d nodes, %d updated, %d ready", strings.ToLower(ws.Kind), ws.Name, p.Pool, p.Nodes, p.Updated, p.Ready)
			if len(p.Failing) > 0 {
				line += "; not ready: " + strings.Join(p.Failing, "; ")
			}
			pools = append(pools, term.Escape(line))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(pools) > 0 {
		fmt.Fprintf(w, "\nDaemonSet pods per node pool:\n%s\n", strings.Join(pools, "\n"))
	}
	var notReady []string
	for _, ws := range rows {
		for _, p := range ws.NotReady {
			line := fmt.Sprintf("  %s (%s/%s): %s", p.Pod, strings.ToLower(ws.Kind), ws.Name, p.Reason)
			if p.Detail != "" {
				line += ": " + p.Detail
			}
			notReady = append(notReady, term.Escape(line))
		}
	}
	if len(notReady) > 0 {
		fmt.Fprintf(w, "\nWorkload pods not ready:\n%s\n", strings.Join(notReady, "\n"))
	}
	return nil
}

// renderWorkloadHistory prints a StatefulSet's or DaemonSet's revisions.
func renderWorkloadHistory(w io.Writer, res *strategy.HistoryResult, now time.Time) error {
	t := newTable(w, "WORKLOAD", "REVISION", "CONTROLLERREVISION", "IMAGES", "CHANGE-CAUSE", "AGE", "PODS", "CURRENT")
	for _, h := range res.Workloads {
		name := strings.ToLower(h.Kind) + "/" + h.Name
		if len(h.Revisions) == 0 {
			t.row(name, "", "", "", "no rollout history found", "", "", "")
		}
		for _, r := range h.Revisions {
			cur := "no"
			if r.Current {
				cur = "yes"
			}
			t.row(name, fmt.Sprint(r.Revision), r.ControllerRevision, historyImages(r.Images), r.ChangeCause, duration.HumanDuration(now.Sub(r.Created)), fmt.Sprint(r.Pods), cur)
		}
	}
	return t.flush()
}
