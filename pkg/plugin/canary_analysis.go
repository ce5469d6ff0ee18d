package plugin

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/feastflow/kubectl-feastflow/pkg/progress"
	"github.com/feastflow/kubectl-feastflow/pkg/strategy"
	"github.com/feastflow/kubectl-feastflow/pkg/traffic"
)

// analyseCanary runs the canary analysis before a step when --analysis or the Service's
// annotation asks for it, and records the result on the Service (c.Service is updated, so
// the step's own precondition holds). A result that did not pass blocks the step; with
// --auto-abort the canary is aborted too. It returns nil, nil when no analysis is asked.
func analyseCanary(ctx context.Context, s *releaseSession, c *strategy.Component, f *analysisFlags) (*traffic.AnalysisResult, error) {
	enabled, window := traffic.Enabled(c.Service)
	if f.off || !f.on && !enabled {
		return nil, nil
	}
	if f.window > 0 {
		window = f.window
	}
	if c.Canary == nil || c.Stable == nil {
		return nil, fmt.Errorf("canary analysis of %s needs a canary and a stable deployment", c.Name())
	}
	pods, err := s.c.Kube.CoreV1().Pods(c.Namespace()).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(c.Service.Spec.Selector).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods of service %s/%s: %w", c.Namespace(), c.Name(), err)
	}
	canary, stable := readyPodsOf(c.Canary, pods.Items), readyPodsOf(c.Stable, pods.Items)
	a := traffic.Analysis{
		Client: s.c.Kube, Window: window,
		Series:           traffic.Series{Requests: f.requestsMetric, CodeLabel: traffic.DefaultSeries().CodeLabel, Latency: f.latencyMetric},
		MaxErrorIncrease: f.maxErrorIncrease, MaxLatencyIncrease: f.maxLatencyIncrease, MinRequests: f.minRequests,
		Progress: func(format string, args ...any) { progress.Printf(s.env.Progress, format, args...) },
	}
	res, aerr := a.Run(ctx, c.Service, canary, stable)
	if res == nil {
		return nil, aerr
	}
	progress.Printf(s.env.Progress, "%s", res.Describe())
	svc, err := traffic.Record(ctx, s.c.Kube, s.env.Writer, c.Service, res, "canary-step")
	if err != nil {
		return res, err
	}
	c.Service = svc
	if aerr == nil {
		return res, nil
	}
	if !f.autoAbort {
		return res, fmt.Errorf("%w; nothing changed: fix the canary and re-run, abort it (kubectl feastflow abort %s), or pass --no-analysis", aerr, c.Name())
	}
	progress.Printf(s.env.Progress, "analysis %s: aborting the canary (--auto-abort)", res.Verdict)
	if _, err := strategy.Abort(ctx, s.env, c, strategy.AbortOptions{}); err != nil {
		return res, fmt.Errorf("%w; --auto-abort failed: %w", aerr, err)
	}
	return res, fmt.Errorf("%w; aborted (--auto-abort): canary deployment/%s scaled to 0, stable deployment/%s back to full", aerr, c.Canary.Name, c.Stable.Name)
}

// readyPodsOf returns the Ready, not terminating pods that d's selector picks.
func readyPodsOf(d *appsv1.Deployment, pods []corev1.Pod) []corev1.Pod {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	var picked []corev1.Pod
	for i := range pods {
		if sel.Matches(labels.Set(pods[i].Labels)) {
			picked = append(picked, pods[i])
		}
	}
	return traffic.ReadyPods(picked)
}
