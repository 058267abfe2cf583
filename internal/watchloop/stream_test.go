package watchloop

import (
	"context"
	"fmt"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// Read tells each event where the stream stood before it: "" for the
// first event of a watch from the current state (a state, not a write),
// then the resourceVersion of the event before, across watches that resume
// from the position; after 410 Gone the next watch starts from the
// current state again.
func TestReadFrom(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{WatchHistory: 1})
	defer srv.Close()
	c := srv.Client()
	put := func(n int) {
		t.Helper()
		obj := fmt.Sprintf(`{"metadata":{"namespace":"ns","name":"cm"},"data":{"n":"%d"}}`, n)
		if err := srv.Put("", "configmaps", []byte(obj)); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct{ rv, from string }
	var at Position
	// watch runs one watch from at that ends after n events.
	watch := func(n int) ([]seen, error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got []seen
		open := func(ctx context.Context, opts k8sapi.WatchOptions) (*k8sapi.Watcher, error) {
			return c.Watch(ctx, k8sapi.ConfigMaps, "ns", "cm", opts)
		}
		err := Read(ctx, &at, 0, open, func(e k8sapi.WatchEvent, rv, from string) {
			if rv != e.Object.ResourceVersion() {
				t.Errorf("rv %q, the event's resourceVersion %q", rv, e.Object.ResourceVersion())
			}
			got = append(got, seen{rv, from})
			if len(got) == n {
				cancel()
			}
		})
		return got, err
	}
	put(1)
	first, _ := watch(1)
	if len(first) != 1 || first[0].from != "" {
		t.Fatalf("first watch: %+v, want the current state, from \"\"", first)
	}
	put(2)
	second, _ := watch(1)
	if len(second) != 1 || second[0].from != first[0].rv || second[0].rv == first[0].rv {
		t.Fatalf("resumed watch: %+v, want the next write, from %s", second, first[0].rv)
	}
	put(3)
	put(4) // the history keeps one change: the position is too old
	if _, err := watch(1); !k8sapi.IsGone(err) {
		t.Fatalf("watch from a compacted position: %v, want 410 Gone", err)
	}
	third, _ := watch(1)
	if len(third) != 1 || third[0].from != "" {
		t.Fatalf("after 410 Gone: %+v, want the current state, from \"\"", third)
	}
}
