package localcluster

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"
)

//go:embed stages/*.yaml
var stageFiles embed.FS

//go:embed simlogs/*.log
var simLogFiles embed.FS

// stageOrder is the order of the stage documents in kwok's --config file.
var stageOrder = []string{"node.yaml", "pod.yaml", "sim.yaml", "volume.yaml", "logs.yaml"}

// SimStateLabel is the pod label that puts a pod into a simulated failure state.
const SimStateLabel = "sim.feastflow.dev/state"

// Simulated failure states: values of SimStateLabel.
const (
	SimCrashLoop                  = "crashloop"
	SimImagePullBackOff           = "imagepullbackoff"
	SimErrImagePull               = "errimagepull"
	SimInitFail                   = "init-fail"
	SimCreateContainerConfigError = "createcontainerconfigerror"
)

// simStateExpr is the jq program kwok evaluates on a pod to find its simulated state: the
// label wins; otherwise the image-name convention; null for an ordinary pod.
const simStateExpr = `.metadata.labels["` + SimStateLabel + `"] // (` +
	`if ([.spec.initContainers[]?.image | test(":initfail$")] | any) then "init-fail" ` +
	`elif ([.spec.containers[].image | test("doesnotexist|:notfound$")] | any) then "imagepullbackoff" ` +
	`elif ([.spec.containers[].image | test(":errimagepull$")] | any) then "errimagepull" ` +
	`elif ([.spec.containers[].image | test(":crashloop$")] | any) then "crashloop" ` +
	`elif ([.spec.containers[].image | test(":configerror$")] | any) then "createcontainerconfigerror" ` +
	`else null end)`

// readyDelayAnnotation lets one pod override the readiness delay.
const readyDelayAnnotation = "sim.feastflow.dev/ready-delay"

// stageParams are the values substituted into the embedded stage templates.
type stageParams struct {
	SimState     string
	Delayed      string
	ReadyDelayMs int64
	LogDir       string
}

// renderKwokConfig returns kwok's --config document: every embedded stage, rendered.
func renderKwokConfig(readyDelay time.Duration, logDir string) ([]byte, error) {
	p := stageParams{
		SimState:     simStateExpr,
		Delayed:      `.metadata.annotations["` + readyDelayAnnotation + `"] != null`,
		ReadyDelayMs: readyDelay.Milliseconds(),
		LogDir:       logDir,
	}
	if readyDelay > 0 {
		p.Delayed = `true`
	}
	var out bytes.Buffer
	for i, name := range stageOrder {
		src, err := stageFiles.ReadFile("stages/" + name)
		if err != nil {
			return nil, fmt.Errorf("read stage %s: %w", name, err)
		}
		tmpl, err := template.New(name).Delims("<%", "%>").Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("parse stage %s: %w", name, err)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		if err := tmpl.Execute(&out, p); err != nil {
			return nil, fmt.Errorf("render stage %s: %w", name, err)
		}
	}
	return out.Bytes(), nil
}

// writeKwokFiles writes kwok's config and the CRI-format log files it serves.
func writeKwokFiles(stateDir string, readyDelay time.Duration, workers int) error {
	logDir := filepath.Join(stateDir, simLogsDir)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	entries, err := simLogFiles.ReadDir("simlogs")
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := simLogFiles.ReadFile("simlogs/" + e.Name())
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(logDir, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	cfg, err := renderKwokConfig(readyDelay, logDir)
	if err != nil {
		return err
	}
	cfg = append(cfg, kwokWorkersConfig(workers)...)
	return os.WriteFile(filepath.Join(stateDir, kwokConfigFile), cfg, 0o644)
}

// kwokWorkersConfig is the KwokConfiguration document that sets kwok's stage parallelism
// (appended to its --config), or nothing for kwok's defaults.
func kwokWorkersConfig(workers int) []byte {
	if workers <= 0 {
		return nil
	}
	return fmt.Appendf(nil, "---\napiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n"+
		"  podPlayStageParallelism: %d\n  nodePlayStageParallelism: %d\n  nodeLeaseParallelism: %d\n", workers, workers, workers)
}
