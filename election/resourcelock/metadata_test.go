package resourcelock_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// storedMeta returns the labels and annotations of a stored object.
func storedMeta(t *testing.T, srv *testapiserver.Server, group, resource string) (labels, annotations map[string]string) {
	t.Helper()
	raw, ok := srv.Get(group, resource, ns, "lock")
	if !ok {
		t.Fatalf("no %s object", resource)
	}
	var obj struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	return obj.Metadata.Labels, obj.Metadata.Annotations
}

// rewrite stores the object as fn changes it, bypassing the locks, as
// another client (kubectl edit, a controller) would.
func rewrite(t *testing.T, srv *testapiserver.Server, group, resource string, fn func(obj map[string]any)) {
	t.Helper()
	raw, ok := srv.Get(group, resource, ns, "lock")
	if !ok {
		t.Fatalf("no %s object", resource)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	fn(obj)
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Put(group, resource, b); err != nil {
		t.Fatal(err)
	}
}

// The configured labels and annotations are on the object a lock creates,
// and every update puts them back, with their values, after someone else
// removed or changed them; labels and annotations the lock was not given
// are kept. A MultiLock does it on both objects.
func TestLockLabelsAndAnnotations(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	labels := map[string]string{"app.kubernetes.io/name": "ctl", "tier": "control", "empty": ""}
	annotations := map[string]string{"example.com/owner": "team-a", "Example.COM/Contact": "ops@example.com"}
	type object struct{ group, resource string }
	lease, endpoints, configMap := object{"coordination.k8s.io", "leases"}, object{"", "endpoints"}, object{"", "configmaps"}
	for _, tc := range []struct {
		kind    string
		objects []object
	}{
		{rl.LeasesResourceLock, []object{lease}},
		{rl.EndpointsResourceLock, []object{endpoints}},
		{rl.ConfigMapsResourceLock, []object{configMap}},
		{rl.EndpointsLeasesResourceLock, []object{endpoints, lease}},
		{rl.ConfigMapsLeasesResourceLock, []object{configMap, lease}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			srv := testapiserver.New(testapiserver.Options{})
			cfg := rl.ResourceLockConfig{Identity: "a", Labels: labels, Annotations: annotations}
			l, err := rl.New(tc.kind, ns, "lock", srv.Client(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// New keeps its own copies: a later change of the caller's map
			// is not written.
			cfg.Labels["tier"] = "changed-later"
			defer func() { cfg.Labels["tier"] = "control" }()

			if err := l.Create(ctx, record("a", 0, at)); err != nil {
				t.Fatal(err)
			}
			wantLabels := map[string]string{"app.kubernetes.io/name": "ctl", "tier": "control", "empty": ""}
			for _, o := range tc.objects {
				gotLabels, gotAnn := storedMeta(t, srv, o.group, o.resource)
				if diff := cmp.Diff(wantLabels, gotLabels); diff != "" {
					t.Errorf("%s labels after Create (-want +got):\n%s", o.resource, diff)
				}
				for k, v := range annotations {
					if gotAnn[k] != v {
						t.Errorf("%s annotation %s after Create = %q, want %q", o.resource, k, gotAnn[k], v)
					}
				}
			}

			// Someone strips a label and an annotation, changes another
			// label, and adds their own.
			for _, o := range tc.objects {
				rewrite(t, srv, o.group, o.resource, func(obj map[string]any) {
					md := obj["metadata"].(map[string]any)
					md["labels"] = map[string]any{"tier": "edited", "team": "b"}
					ann := md["annotations"].(map[string]any)
					delete(ann, "example.com/owner")
					ann["example.com/note"] = "theirs"
				})
			}
			// The lock's next update conflicts (the object changed), it
			// reads, and the update after that restores what it owns.
			if err := l.Update(ctx, record("a", 0, at.Add(time.Second))); !k8sapi.IsConflict(err) {
				t.Fatalf("Update over an edited object = %v, want a Conflict", err)
			}
			if _, _, err := l.Get(ctx); err != nil {
				t.Fatal(err)
			}
			for i := 2; i < 4; i++ {
				if err := l.Update(ctx, record("a", 0, at.Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			wantLabels["team"] = "b"
			for _, o := range tc.objects {
				gotLabels, gotAnn := storedMeta(t, srv, o.group, o.resource)
				if diff := cmp.Diff(wantLabels, gotLabels); diff != "" {
					t.Errorf("%s labels after updates (-want +got):\n%s", o.resource, diff)
				}
				want := map[string]string{"example.com/owner": "team-a", "Example.COM/Contact": "ops@example.com", "example.com/note": "theirs"}
				for k, v := range want {
					if gotAnn[k] != v {
						t.Errorf("%s annotation %s after updates = %q, want %q", o.resource, k, gotAnn[k], v)
					}
				}
			}
			if rec, _, err := l.Get(ctx); err != nil || rec.HolderIdentity != "a" || !rec.RenewTime.Equal(at.Add(3*time.Second)) {
				t.Errorf("record after the updates = %+v, %v", rec, err)
			}
		})
	}
}

// A lock without labels or annotations adds none: the object it writes
// has no labels field at all, as before.
func TestLockWithoutLabels(t *testing.T) {
	srv := testapiserver.New(testapiserver.Options{})
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for _, k := range kinds {
		if err := newLock(t, srv, k.kind, "a").Create(context.Background(), record("a", 0, at)); err != nil {
			t.Fatal(err)
		}
		raw, _ := srv.Get(k.group, k.resource, ns, "lock")
		if strings.Contains(string(raw), `"labels"`) {
			t.Errorf("%s: object without configured labels has some: %s", k.kind, raw)
		}
	}
}

// Labels and annotations kube-apiserver would refuse with a 422 at the
// first write are refused by New; those it takes are taken. The rules are
// apimachinery's IsQualifiedName and IsValidLabelValue (annotation keys
// with case ignored) and the 256 KiB limit of all annotations.
func TestLockMetadataValidation(t *testing.T) {
	client := testapiserver.New(testapiserver.Options{}).Client()
	long := strings.Repeat("a", 63)
	prefix253 := strings.Repeat("a", 61) + "." + strings.Repeat("b", 61) + "." + strings.Repeat("c", 61) + "." + strings.Repeat("d", 67)
	if len(prefix253) != 253 {
		t.Fatalf("prefix of %d characters", len(prefix253))
	}
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        string // "" when valid
	}{
		{"label key shapes", map[string]string{"app": "", "A.b-c_d": "X-1.y_2", long: long, "example.com/Name": "v", prefix253 + "/n": "v"}, nil, ""},
		{"annotation key case", nil, map[string]string{"Example.COM/Name": "any value at all: / \n é", "a": ""}, ""},
		{"annotations at the limit", nil, map[string]string{"k": strings.Repeat("v", 256<<10-1)}, ""},
		{"empty label key", map[string]string{"": "v"}, nil, `label key "": name must not be empty`},
		{"label key with a space", map[string]string{"a b": "v"}, nil, `label key "a b"`},
		{"label key starting with '-'", map[string]string{"-a": "v"}, nil, `label key "-a"`},
		{"label key of 64", map[string]string{long + "a": "v"}, nil, "at most 63 characters, not 64"},
		{"two slashes", map[string]string{"a/b/c": "v"}, nil, "at most one '/'"},
		{"empty prefix", map[string]string{"/a": "v"}, nil, "prefix must not be empty"},
		{"empty name", map[string]string{"example.com/": "v"}, nil, "name must not be empty"},
		{"upper-case prefix", map[string]string{"Example.com/a": "v"}, nil, `label key "Example.com/a": prefix must be a DNS subdomain`},
		{"prefix with '_'", map[string]string{"exa_mple.com/a": "v"}, nil, "prefix must be a DNS subdomain"},
		{"prefix with '..'", map[string]string{"a..b/c": "v"}, nil, "prefix must be a DNS subdomain"},
		{"prefix of 254", map[string]string{prefix253 + "e/n": "v"}, nil, "prefix must be at most 253 characters"},
		{"label value of 64", map[string]string{"a": long + "a"}, nil, `label "a": value`},
		{"label value with '/'", map[string]string{"a": "b/c"}, nil, "must be empty or consist of"},
		{"label value ending in '-'", map[string]string{"a": "b-"}, nil, "must be empty or consist of"},
		{"annotation key with a space", nil, map[string]string{"a b": "v"}, `annotation key "a b"`},
		{"the record's key", nil, map[string]string{rl.LeaderElectionRecordAnnotationKey: "{}"}, "is written by the lock itself"},
		{"the transfer key", nil, map[string]string{rl.PreferredHolderAnnotationKey: "b"}, "is written by the lock itself"},
		{"the successor key", nil, map[string]string{rl.SuccessorAnnotationKey: "{}"}, "is written by the lock itself"},
		{"annotations over the limit", nil, map[string]string{"k": strings.Repeat("v", 128<<10), "l": strings.Repeat("v", 128<<10)}, "annotations hold 262146 bytes"},
	} {
		for _, kind := range []string{rl.LeasesResourceLock, rl.ConfigMapsLeasesResourceLock} {
			l, err := rl.New(kind, ns, "lock", client, rl.ResourceLockConfig{Identity: "a", Labels: tc.labels, Annotations: tc.annotations})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s (%s): New = %v, want a lock", tc.name, kind, err)
			case tc.want != "" && (err == nil || !errors.Is(err, rl.ErrInvalidLock) || !strings.Contains(err.Error(), tc.want) || l != nil):
				t.Errorf("%s (%s): New = %v, %.200v; want an ErrInvalidLock saying %q", tc.name, kind, l, err, tc.want)
			}
		}
	}
}
