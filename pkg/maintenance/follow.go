package maintenance

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// follower lists and watches one kind: the waits of this package are driven by watch events,
// never by a GET per object per second.
type follower[T runtime.Object] struct {
	list  func(ctx context.Context, opts metav1.ListOptions) ([]T, string, error)
	watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	opts  metav1.ListOptions
	// onList receives a full list (the first one when no resourceVersion is given, and every
	// re-list after the watch expired); onEvent every event. Either returns true to stop.
	onList  func([]T) bool
	onEvent func(watch.EventType, T) bool
}

// watchRetryDelay spaces out re-watches after a watch could not be opened.
const watchRetryDelay = time.Second

// run follows from resourceVersion rv (empty: list first) until a callback says stop, ctx
// ends or the API refuses (forbidden). When started is not nil, it is closed once the first
// watch is open, so that a caller can start changes it must not miss. A watch that expired
// (410 Gone, when the list's resourceVersion was compacted away) is replaced by a re-list.
func (f *follower[T]) run(ctx context.Context, rv string, started chan<- struct{}) error {
	signal := func() {
		if started != nil {
			close(started)
			started = nil
		}
	}
	defer signal()
	for ctx.Err() == nil {
		if rv == "" {
			items, listRV, err := f.list(ctx, f.opts)
			if err != nil {
				if apierrors.IsForbidden(err) || ctx.Err() != nil {
					return err
				}
				if !sleepCtx(ctx, watchRetryDelay) {
					return ctx.Err()
				}
				continue
			}
			rv = listRV
			if f.onList(items) {
				return nil
			}
		}
		opts := f.opts
		opts.ResourceVersion, opts.AllowWatchBookmarks = rv, true
		w, err := f.watch(ctx, opts)
		if err != nil {
			if apierrors.IsForbidden(err) || ctx.Err() != nil {
				return err
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			} else if !sleepCtx(ctx, watchRetryDelay) {
				return ctx.Err()
			}
			continue
		}
		signal()
		stop, next := f.consume(ctx, w, rv)
		w.Stop()
		if stop {
			return nil
		}
		rv = next
	}
	return ctx.Err()
}

// consume reads one watch until it ends; next is the resourceVersion to resume from ("" to
// re-list).
func (f *follower[T]) consume(ctx context.Context, w watch.Interface, rv string) (stop bool, next string) {
	for {
		select {
		case <-ctx.Done():
			return false, rv // run returns ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, rv
			}
			switch ev.Type {
			case watch.Error:
				if status := apierrors.FromObject(ev.Object); apierrors.IsResourceExpired(status) || apierrors.IsGone(status) {
					return false, ""
				}
				return false, rv
			case watch.Bookmark:
				if m, err := meta.Accessor(ev.Object); err == nil {
					rv = m.GetResourceVersion()
				}
				continue
			}
			obj, ok := ev.Object.(T)
			if !ok {
				continue
			}
			if m, err := meta.Accessor(obj); err == nil && m.GetResourceVersion() != "" {
				rv = m.GetResourceVersion()
			}
			if f.onEvent(ev.Type, obj) {
				return true, rv
			}
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
