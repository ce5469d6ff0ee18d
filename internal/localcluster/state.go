package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files and directories inside a state directory.
const (
	pidsFile       = "pids.json"
	persistedFile  = "cluster.json"
	kubeconfigFile = "kubeconfig"
	pkiDir         = "pki"
	logsDir        = "logs"
	simLogsDir     = "sim-logs"
	etcdDataDir    = "etcd-data"
	kwokConfigFile = "kwok-config.yaml"
	flexVolumeDir  = "flexvolume"
	lockFile       = ".lock"
)

// Process is one started component as recorded in the pids file.
type Process struct {
	// Name is the component: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.
	Name string `json:"name"`
	// PID is its process id.
	PID int `json:"pid"`
	// Exe is the absolute path of the binary, matched against /proc/PID/exe before any signal.
	Exe string `json:"exe"`
	// StartTicks is the process start time (field 22 of /proc/PID/stat), matched as well, so
	// that a PID reused by another run of the same binary is not mistaken for ours.
	StartTicks uint64 `json:"startTicks"`
}

// record is the content of the pids file, which exists while a cluster runs.
type record struct {
	// Fingerprint is Config.fingerprint of the running cluster.
	Fingerprint string `json:"fingerprint"`
	// Processes in start order.
	Processes []Process `json:"processes"`
}

// KubeconfigPath returns the admin kubeconfig path of the cluster in stateDir.
func KubeconfigPath(stateDir string) string {
	return filepath.Join(stateDir, kubeconfigFile)
}

// readRecord reads the pids file; a missing file gives (nil, nil).
func readRecord(stateDir string) (*record, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, pidsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pids file: %w", err)
	}
	return parseRecord(data)
}

// parseRecord decodes a pids file and rejects entries that cannot be ours.
func parseRecord(data []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse pids file: %w", err)
	}
	for _, p := range r.Processes {
		if p.Name == "" || p.PID <= 1 || !filepath.IsAbs(p.Exe) {
			return nil, fmt.Errorf("parse pids file: invalid entry %+v", p)
		}
	}
	return &r, nil
}

// writeRecord replaces the pids file atomically.
func writeRecord(stateDir string, r *record) error {
	return writeJSON(filepath.Join(stateDir, pidsFile), r)
}

// persisted is what a state directory keeps across stops (cluster.json).
type persisted struct {
	// Ports chosen by the last start, reused when free so kubeconfigs stay valid.
	Ports Ports `json:"ports"`
	// Generation counts starts of this state directory; it selects kwok's pod CIDR so that
	// a new kwok never hands out an IP that a pod from an earlier run still holds in etcd.
	Generation int `json:"generation"`
}

// readPersisted reads cluster.json; a missing file gives the zero value.
func readPersisted(stateDir string) (persisted, error) {
	var p persisted
	data, err := os.ReadFile(filepath.Join(stateDir, persistedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read %s: %w", persistedFile, err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("parse %s: %w", persistedFile, err)
	}
	return p, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
