package realapi

import (
	"maps"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
	"github.com/kubelect/kubelect/k8sapi"
)

// ResourceLockConfig's labels and annotations on a real server: the lock
// object has them from its create; after a foreign write removes one label
// and one annotation and adds others, the leader's next renewal puts the
// removed ones back and keeps the added ones, and the leader leads on.
func TestLockLabels(t *testing.T) {
	c := need(t)
	labels := map[string]string{"app.kubernetes.io/name": "kubelect-test", "example.com/team": "a"}
	annotations := map[string]string{"example.com/owner": "team-a"}
	for _, tc := range []struct {
		kind    string
		objects []k8sapi.Resource
	}{
		{rl.LeasesResourceLock, []k8sapi.Resource{k8sapi.Leases}},
		{rl.EndpointsResourceLock, []k8sapi.Resource{k8sapi.Endpoints}},
		{rl.ConfigMapsResourceLock, []k8sapi.Resource{k8sapi.ConfigMaps}},
		{rl.ConfigMapsLeasesResourceLock, []k8sapi.Resource{k8sapi.ConfigMaps, k8sapi.Leases}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ns, name := c.Namespace, uniqueName(t)
			admin := adminOf(t, c)
			// Watches from before the lock exists: the first version each
			// delivers is the create.
			watched := make([]*versions, len(tc.objects))
			for i, r := range tc.objects {
				watched[i] = watchVersions(t, admin, r, ns, name, "")
			}
			l := &ledger{}
			id := name + "-a"
			le := run(t, clientOf(t, c), tc.kind, ns, name, id, l, false,
				rl.ResourceLockConfig{Labels: labels, Annotations: annotations})
			l.waitLeads(t, id, time.Time{}, 10*time.Second)

			for i, r := range tc.objects {
				cur, err := admin.Get(t.Context(), r, ns, name)
				if err != nil {
					t.Fatal(err)
				}
				created := watched[i].upTo(t, cur.ResourceVersion(), 5*time.Second)[0]
				if got := stringMap(t, created, "metadata", "labels"); !maps.Equal(got, labels) {
					t.Errorf("%s as created: labels %v, want %v", r.Kind, got, labels)
				}
				if got := created.Annotations(); !contains(got, annotations) {
					t.Errorf("%s as created: annotations %v, want %v among them", r.Kind, got, annotations)
				}

				// Someone removes a label and the annotation, and adds
				// their own.
				changed := foreignUpdate(t, admin, r, ns, name, func(obj map[string]any) {
					meta := obj["metadata"].(map[string]any)
					lb := meta["labels"].(map[string]any)
					delete(lb, "example.com/team")
					lb["example.com/foreign"] = "kept"
					an := meta["annotations"].(map[string]any)
					delete(an, "example.com/owner")
					an["example.com/foreign-note"] = "kept"
				})
				var after *k8sapi.Object
				if !waitFor(3*time.Second, func() bool {
					after, err = admin.Get(t.Context(), r, ns, name)
					return err == nil && after.ResourceVersion() != changed.ResourceVersion()
				}) {
					t.Fatalf("%s: no renewal within 3s of the foreign write (%v)", r.Kind, err)
				}
				wantLabels := maps.Clone(labels)
				wantLabels["example.com/foreign"] = "kept"
				if got := stringMap(t, after, "metadata", "labels"); !maps.Equal(got, wantLabels) {
					t.Errorf("%s after the next renewal: labels %v, want %v", r.Kind, got, wantLabels)
				}
				wantAnn := maps.Clone(annotations)
				wantAnn["example.com/foreign-note"] = "kept"
				if got := after.Annotations(); !contains(got, wantAnn) {
					t.Errorf("%s after the next renewal: annotations %v, want %v among them", r.Kind, got, wantAnn)
				}
			}
			if !le.le.IsLeader() || len(l.leaders()) != 1 {
				t.Errorf("leading %v, terms %v: the foreign writes must not end the leadership", le.le.IsLeader(), l.leaders())
			}
		})
	}
}

// contains reports whether every key of want is in got with its value.
func contains(got, want map[string]string) bool {
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}
