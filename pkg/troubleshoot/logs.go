package troubleshoot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// logRequest is a log diagnose wants to show: a crashed container's previous instance, or a
// terminated init container's current one.
type logRequest struct {
	pod       *corev1.Pod
	container string
	previous  bool
}

// logConcurrency bounds parallel log reads; each goes through the apiserver to a kubelet.
const logConcurrency = 4

// readLogs reads the logs the findings ask for, at most MaxLogs in total (the findings are
// one per failing workload, so this is one log per failure mode), in parallel, each capped
// in lines and bytes.
func (a *analysis) readLogs(findings []Finding) {
	budget := max(a.opts.MaxLogs, 0)
	type job struct {
		f   *Finding
		req logRequest
		out *LogExcerpt
	}
	var jobs []job
	for i := range findings {
		for _, req := range findings[i].logs {
			if budget == 0 {
				// Over the cap: say so rather than show nothing silently.
				findings[i].Evidence.Logs = append(findings[i].Evidence.Logs, LogExcerpt{Pod: req.pod.Name, Container: req.container, Previous: req.previous,
					Error: "not read: --max-logs reached"})
				continue
			}
			budget--
			jobs = append(jobs, job{f: &findings[i], req: req, out: &LogExcerpt{Pod: req.pod.Name, Container: req.container, Previous: req.previous}})
		}
		findings[i].logs = nil
	}
	if len(jobs) == 0 {
		return
	}
	g, ctx := errgroup.WithContext(a.ctx)
	g.SetLimit(logConcurrency)
	var mu sync.Mutex
	for _, j := range jobs {
		g.Go(func() error {
			lines, err := a.readLog(ctx, j.req)
			mu.Lock()
			defer mu.Unlock()
			j.out.Lines = lines
			if err != nil {
				j.out.Error = err.Error()
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, j := range jobs {
		j.f.Evidence.Logs = append(j.f.Evidence.Logs, *j.out)
	}
	a.s.requests.Add(int64(len(jobs)))
}

func (a *analysis) readLog(ctx context.Context, req logRequest) ([]string, error) {
	lines, limit := a.opts.LogLines, int64(logLimitBytes)
	raw, err := a.client.CoreV1().Pods(req.pod.Namespace).GetLogs(req.pod.Name, &corev1.PodLogOptions{
		Container: req.container, Previous: req.previous, TailLines: &lines, LimitBytes: &limit,
	}).DoRaw(ctx)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("not allowed to read logs (pods/log)")
		}
		return nil, fmt.Errorf("read log: %s", apierrors.ReasonForError(err))
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), logLimitBytes+1)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if int64(len(out)) > lines {
		out = out[len(out)-int(lines):]
	}
	return out, nil
}

// wrongSecretType reports whether a Secret's type makes it useless as an imagePullSecret.
// The type is not metadata, and reading Secrets with the typed client would fetch their data;
// so, the first time it is needed, one metadata LIST asks the server for the Secrets whose
// type is neither registry-credential type (a field selector the apiserver supports).
func (a *analysis) wrongSecretType(ns, name string) bool {
	if !a.secretsRead {
		a.secretsRead = true
		a.wrongSecrets = map[string]bool{}
		if a.opts.Metadata != nil {
			a.s.requests.Add(1)
			list, err := a.opts.Metadata.Resource(secretsGVR).Namespace(a.s.namespace).List(a.ctx, metav1.ListOptions{
				FieldSelector: "type!=" + string(corev1.SecretTypeDockerConfigJson) + ",type!=" + string(corev1.SecretTypeDockercfg),
			})
			if err == nil {
				for i := range list.Items {
					a.wrongSecrets[key(list.Items[i].Namespace, list.Items[i].Name)] = true
				}
			}
		}
	}
	return a.wrongSecrets[key(ns, name)]
}
