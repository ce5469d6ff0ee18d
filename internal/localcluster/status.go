package localcluster

import (
	"context"
	"path/filepath"
	"time"
)

// ComponentStatus is one recorded component's state.
type ComponentStatus struct {
	Name    string `json:"name"`
	PID     int    `json:"pid"`
	Alive   bool   `json:"alive"`
	Ports   []int  `json:"ports,omitempty"`
	LogPath string `json:"logPath"`
}

// StatusReport is the health of the cluster in a state directory.
type StatusReport struct {
	StateDir   string            `json:"stateDir"`
	Kubeconfig string            `json:"kubeconfig"`
	Running    bool              `json:"running"`
	Components []ComponentStatus `json:"components"`
	// APIServerReady is the apiserver's /readyz result; APIServerError says why not.
	APIServerReady bool   `json:"apiServerReady"`
	APIServerError string `json:"apiServerError,omitempty"`
	Nodes          int    `json:"nodes"`
	NodesReady     int    `json:"nodesReady"`
	// Healthy: every component alive, readyz ok, at least one node and all nodes Ready.
	Healthy bool `json:"healthy"`
}

// Status reports the cluster in stateDir without changing anything.
func Status(ctx context.Context, stateDir string) (*StatusReport, error) {
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	r := &StatusReport{StateDir: stateDir, Kubeconfig: KubeconfigPath(stateDir)}
	rec, err := readRecord(stateDir)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return r, nil
	}
	r.Running = true
	state, _ := readPersisted(stateDir)
	all := len(rec.Processes) == recordedComponents()
	for _, p := range rec.Processes {
		cs := ComponentStatus{Name: p.Name, PID: p.PID, Alive: alive(p), Ports: componentPorts(p.Name, state.Ports),
			LogPath: filepath.Join(stateDir, logsDir, p.Name+".log")}
		all = all && cs.Alive
		r.Components = append(r.Components, cs)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cs, err := adminClient(stateDir)
	if err == nil {
		err = readyz(ctx, cs)
	}
	if err != nil {
		r.APIServerError = err.Error()
	} else {
		r.APIServerReady = true
		r.Nodes, r.NodesReady, err = readyNodes(ctx, cs)
		if err != nil {
			r.APIServerError = err.Error()
		}
	}
	r.Healthy = all && r.APIServerReady && r.Nodes > 0 && r.NodesReady == r.Nodes
	return r, nil
}
