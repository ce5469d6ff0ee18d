package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// Apply runs kubectl apply on manifests in namespace ns: yamlOrPath is a file, a directory
// (its files in name order) or literal YAML. With ns "" the manifests' own namespaces are used.
// It fails the test on error and returns kubectl's output.
func (h *H) Apply(ns, yamlOrPath string) string {
	h.T.Helper()
	args := []string{"apply"}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	var r Result
	if _, err := os.Stat(yamlOrPath); err == nil && !strings.Contains(yamlOrPath, "\n") {
		r = h.Kubectl(append(args, "-f", yamlOrPath)...)
	} else {
		r = h.KubectlStdin(yamlOrPath, append(args, "-f", "-")...)
	}
	if r.ExitCode != 0 {
		h.T.Fatalf("kubectl apply: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// ApplyExample applies a private copy of examples/<name> (e.g. "feastflow",
// "feastflow-canary") in a new namespace from NewNamespace and returns that namespace: the
// Namespace objects are dropped and every object's namespace is replaced, so tests can change
// the app freely and in parallel.
func (h *H) ApplyExample(name string) string {
	h.T.Helper()
	dir := filepath.Join(h.Env.ModuleRoot, "examples", name)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		h.T.Fatalf("example %s: no manifests in %s", name, dir)
	}
	sort.Strings(files)
	ns := h.NewNamespace()
	var items []any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			h.T.Fatal(err)
		}
		objs, err := rewriteNamespace(data, ns)
		if err != nil {
			h.T.Fatalf("example %s: %s: %v", name, filepath.Base(f), err)
		}
		items = append(items, objs...)
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		h.T.Fatal(err)
	}
	h.Apply(ns, string(list)+"\n")
	return ns
}

// rewriteNamespace returns every object of a multi-document manifest except Namespaces,
// with metadata.namespace set to ns.
func rewriteNamespace(data []byte, ns string) ([]any, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []any
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if obj == nil {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() == "Namespace" {
			continue
		}
		u.SetNamespace(ns)
		objs = append(objs, u.Object)
	}
}
