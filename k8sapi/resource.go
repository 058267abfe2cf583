package k8sapi

import (
	"net/url"
	"strings"
)

// Resource names a kind of namespaced object on the API server.
type Resource struct {
	Group    string // "" for the core group
	Version  string // "v1"
	Resource string // plural, lower case: "leases"
	Kind     string // "Lease"
}

// The resources the locks use, Events for recording them, and Pods for
// labelling the leader's pod.
var (
	Endpoints  = Resource{Version: "v1", Resource: "endpoints", Kind: "Endpoints"}
	ConfigMaps = Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap"}
	Leases     = Resource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease"}
	Events     = Resource{Version: "v1", Resource: "events", Kind: "Event"}
	Pods       = Resource{Version: "v1", Resource: "pods", Kind: "Pod"}
)

// APIVersion is "v1" or "group/version".
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// String is "leases.v1.coordination.k8s.io" or "endpoints.v1", for messages.
func (r Resource) String() string {
	s := r.Resource + "." + r.Version
	if r.Group != "" {
		s += "." + r.Group
	}
	return s
}

// collectionPath is the path of the namespace's collection:
// /api/v1/namespaces/{ns}/{resource} for the core group,
// /apis/{group}/{version}/namespaces/{ns}/{resource} otherwise.
func (r Resource) collectionPath(namespace string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/")
	} else {
		b.WriteString("/apis/")
		b.WriteString(url.PathEscape(r.Group))
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(r.Version))
	b.WriteString("/namespaces/")
	b.WriteString(url.PathEscape(namespace))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(r.Resource))
	return b.String()
}

// objectPath is the path of one object in the namespace's collection.
func (r Resource) objectPath(namespace, name string) string {
	return r.collectionPath(namespace) + "/" + url.PathEscape(name)
}
