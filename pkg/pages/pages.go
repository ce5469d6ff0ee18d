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
	base := len(*into)
	return Stream(ctx, opts, list, items, func(total int) {
		*into = (*into)[:base]
		if total > cap(*into)-base {
			grown := make([]T, base, base+total)
			copy(grown, *into)
			*into = grown
		}
	}, func(o *T) {
		if trim != nil {
			trim(o)
		}
		*into = append(*into, *o)
	})
}

// Stream lists every page of list and hands each item to each as its page arrives, so that
// a reader keeps its own record of an item, not the typed object: the page is garbage once
// each has returned. start is called before the first item with the number of items the
// server says the whole list holds (this page's plus the remaining count; 0 when it does not
// say), and again, with 0, if an expired continue token makes the read start over with one
// unpaged LIST (as client-go's pager does): whatever each kept until then must be dropped.
// It returns the number of requests made.
func Stream[L metav1.ListInterface, T any](ctx context.Context, opts metav1.ListOptions, list ListFunc[L], items func(L) []T, start func(total int), each func(*T)) (int, error) {
	opts.Limit = Size
	opts.Continue = ""
	requests := 0
	first := true
	for {
		l, err := list(ctx, opts)
		requests++
		if err != nil {
			if apierrors.IsResourceExpired(err) && opts.Continue != "" {
				start(0)
				opts.Limit, opts.Continue = 0, ""
				continue
			}
			return requests, err
		}
		page := items(l)
		if first {
			first = false
			total := 0
			if left := l.GetRemainingItemCount(); left != nil && *left > 0 {
				total = len(page) + int(*left)
			}
			start(total)
		}
		for i := range page {
			each(&page[i])
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
