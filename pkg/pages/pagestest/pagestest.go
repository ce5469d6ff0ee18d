// Package pagestest makes fake clientsets page their LIST answers as a real apiserver does
// (limit, continue token, remaining item count), for tests of code that reads in pages.
package pagestest

import (
	"fmt"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
)

// Requests counts the LIST requests per resource and remembers each request's limit.
type Requests struct {
	mu     sync.Mutex
	lists  map[string]int
	limits map[string][]int64
}

// Lists returns the LIST requests made for a resource (e.g. "pods").
func (r *Requests) Lists(resource string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lists[resource]
}

// Total is the number of LIST requests of every resource.
func (r *Requests) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.lists {
		n += v
	}
	return n
}

// Limits returns the limit of each LIST request for a resource, in order.
func (r *Requests) Limits(resource string) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.limits[resource]...)
}

// Paginate makes every LIST of f answer in pages of at most the request's limit (or at
// most maxPage items when maxPage > 0, as a server may return fewer than asked), with a continue
// token and the remaining item count. The full list comes from tracker, as the fake's own
// reaction would return it.
func Paginate(f *clienttesting.Fake, tracker clienttesting.ObjectTracker, maxPage int) *Requests {
	r := &Requests{lists: map[string]int{}, limits: map[string][]int64{}}
	full := clienttesting.ObjectReaction(tracker)
	f.PrependReactor("list", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		la, ok := action.(clienttesting.ListActionImpl)
		if !ok {
			return false, nil, nil
		}
		res := action.GetResource().Resource
		r.mu.Lock()
		r.lists[res]++
		r.limits[res] = append(r.limits[res], la.ListOptions.Limit)
		r.mu.Unlock()
		_, obj, err := full(action)
		if err != nil || obj == nil {
			return true, obj, err
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return true, nil, err
		}
		start := 0
		if c := la.ListOptions.Continue; c != "" {
			if start, err = strconv.Atoi(c); err != nil || start > len(items) {
				return true, nil, fmt.Errorf("bad continue token %q", c)
			}
		}
		end := len(items)
		if l := int(la.ListOptions.Limit); l > 0 {
			n := l
			if maxPage > 0 && maxPage < n {
				n = maxPage
			}
			end = min(len(items), start+n)
		}
		if err := meta.SetList(obj, items[start:end]); err != nil {
			return true, nil, err
		}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return true, nil, err
		}
		if end < len(items) {
			lm.SetContinue(strconv.Itoa(end))
			rest := int64(len(items) - end)
			lm.SetRemainingItemCount(&rest)
		}
		return true, obj, nil
	})
	return r
}
