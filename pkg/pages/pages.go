// Package pages reads typed Kubernetes lists page by page: one LIST request per page of
// Size items, the slice sized once from the server's remaining-item count, and each item
// trimmed (managedFields and the like) as its page arrives, so that a read of 150,000 pods
// keeps one trimmed copy of each and nothing else.
package pages

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Size is the page size of every LIST: large enough that a namespace of a few thousand
// pods takes a handful of requests, small enough that the apiserver never builds one huge
// response (kubectl's --chunk-size default too).
const Size = 500

// Protobuf is the content type typed clients should read built-in kinds in: several times
// smaller on the wire and faster to decode than JSON (kubectl does the same).
const Protobuf = "application/vnd.kubernetes.protobuf"

// UseProtobuf makes the typed clients built from cfg ask for protobuf, falling back to JSON
// for what the server cannot encode so. Clients of custom resources (dynamic) must not use it.
func UseProtobuf(cfg *rest.Config) {
	cfg.ContentType = Protobuf
	cfg.AcceptContentTypes = Protobuf + ",application/json"
}

// ListFunc is one typed LIST call, e.g. client.CoreV1().Pods(ns).List.
type ListFunc[L any] func(ctx context.Context, opts metav1.ListOptions) (L, error)

// Read lists every page of list into *into and returns the number of requests made. Items
// of a page are passed to trim (may be nil) and copied into *into as the page arrives; the
// page itself is then garbage. When the server says how many items remain, *into is sized
// once. If a continue token expires mid-read (the list took longer than etcd's compaction
// interval), the read starts again with one unpaged LIST, as client-go's pager does.
func Read[L metav1.ListInterface, T any](ctx context.Context, opts metav1.ListOptions, list ListFunc[L], items func(L) []T, into *[]T, trim func(*T)) (int, error) {
	opts.Limit = Size
	opts.Continue = ""
	requests := 0
	first := true
	for {
		l, err := list(ctx, opts)
		requests++
		if err != nil {
			if apierrors.IsResourceExpired(err) && opts.Continue != "" {
				*into = (*into)[:0]
				opts.Limit, opts.Continue = 0, ""
				continue
			}
			return requests, err
		}
		page := items(l)
		if first {
			first = false
			if left := l.GetRemainingItemCount(); left != nil && *left > 0 && cap(*into)-len(*into) < len(page)+int(*left) {
				grown := make([]T, len(*into), len(*into)+len(page)+int(*left))
				copy(grown, *into)
				*into = grown
			}
		}
		for i := range page {
			if trim != nil {
				trim(&page[i])
			}
			*into = append(*into, page[i])
		}
		next := l.GetContinue()
		if next == "" {
			return requests, nil
		}
		opts.Continue = next
	}
}

// LastApplied is the annotation kubectl apply keeps a whole copy of the object in.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// TrimMeta drops what no report reads from an object's metadata: managedFields and the
// last-applied copy of the object. (ConfigMaps and Secrets keep their managedFields:
// diagnose reads their key names from them.)
func TrimMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	delete(m.Annotations, LastApplied)
}
