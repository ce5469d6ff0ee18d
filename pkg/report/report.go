// Package report holds what every machine-readable result of the plugin shares: the API
// version and kind that make `-o json|yaml` output a stable, versioned schema.
package report

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// APIVersion is the apiVersion of every report the plugin prints with -o json|yaml.
const APIVersion = "feastflow.dev/v1alpha1"

// TypeMeta returns the apiVersion/kind header of a report of the given kind.
func TypeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: APIVersion, Kind: kind}
}
