package k8sapi

// This file is the contract other packages are written against while the
// implementation is filled in. The implementer moves each declaration to its
// own file (config.go, client.go, object.go, resource.go, errors.go, watch.go)
// and deletes this file.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Config says how to reach and authenticate to one API server.
type Config struct {
	// Host is the API server's base URL, such as "https://10.0.0.1:443".
	Host string
	// BearerToken is a fixed token. BearerTokenFile, when set, wins and is
	// re-read periodically (bound service-account tokens rotate).
	BearerToken     string
	BearerTokenFile string
	// CAFile or CAData (PEM) is the cluster CA that the server certificate
	// must chain to. With neither, the system roots are used.
	CAFile string
	CAData []byte
	// Optional client certificate (files or PEM bytes).
	CertFile, KeyFile string
	CertData, KeyData []byte
	// Namespace is the pod's namespace when the config came from
	// InClusterConfig; informational.
	Namespace string
	// UserAgent is sent on every request.
	UserAgent string
	// Timeout bounds every request except watches. Zero means 30s.
	Timeout time.Duration
	// AllowInsecureHTTP permits plain http:// to a non-loopback host.
	AllowInsecureHTTP bool
	// MaxResponseBytes caps a response body. Zero means 4 MiB.
	MaxResponseBytes int64
	// Transport, when set, carries the requests instead of a transport
	// built from the TLS settings (tests, in-process servers). Auth,
	// timeouts and caps still apply.
	Transport http.RoundTripper
	// WarningHandler receives each distinct Warning header text once.
	// Nil logs each distinct warning once to Logger.
	WarningHandler func(text string)
	// Logger receives the client's few log lines. Nil means slog.Default().
	Logger *slog.Logger
}

// InClusterConfig builds a Config from KUBERNETES_SERVICE_HOST/PORT and the
// service-account files in ServiceAccountDir.
func InClusterConfig() (*Config, error) { panic("unimplemented") }

// InClusterConfigFromDir is InClusterConfig with another service-account
// directory (token, ca.crt, namespace).
func InClusterConfigFromDir(dir string) (*Config, error) { panic("unimplemented") }

// ServiceAccountDir is where Kubernetes mounts a pod's service-account files.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Resource names a kind of namespaced object on the API server.
type Resource struct {
	Group    string // "" for the core group
	Version  string // "v1"
	Resource string // plural, lower case: "leases"
	Kind     string // "Lease"
}

// The resources the locks use.
var (
	Endpoints  = Resource{Version: "v1", Resource: "endpoints", Kind: "Endpoints"}
	ConfigMaps = Resource{Version: "v1", Resource: "configmaps", Kind: "ConfigMap"}
	Leases     = Resource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases", Kind: "Lease"}
	Events     = Resource{Version: "v1", Resource: "events", Kind: "Event"}
)

// APIVersion is "v1" or "group/version".
func (r Resource) APIVersion() string { panic("unimplemented") }

// Object is one Kubernetes object kept as its JSON fields, so that every
// field this package does not change goes back to the server as it came.
type Object struct {
	fields map[string]json.RawMessage
}

// NewObject returns an object with apiVersion, kind, metadata.namespace
// and metadata.name set.
func NewObject(r Resource, namespace, name string) *Object { panic("unimplemented") }

func (o *Object) Name() string            { panic("unimplemented") }
func (o *Object) Namespace() string       { panic("unimplemented") }
func (o *Object) ResourceVersion() string { panic("unimplemented") }
func (o *Object) UID() string             { panic("unimplemented") }

// Annotations returns a copy of metadata.annotations (nil when absent).
func (o *Object) Annotations() map[string]string { panic("unimplemented") }

// SetAnnotation sets one annotation, keeping all others.
func (o *Object) SetAnnotation(key, value string) error { panic("unimplemented") }

// Field returns the raw JSON at path, such as Field("spec", "holderIdentity").
func (o *Object) Field(path ...string) (json.RawMessage, bool) { panic("unimplemented") }

// DecodeField decodes the JSON at path into v; false when absent.
func (o *Object) DecodeField(v any, path ...string) (bool, error) { panic("unimplemented") }

// SetField marshals v and stores it at path, creating intermediate objects
// and keeping every sibling field.
func (o *Object) SetField(v any, path ...string) error { panic("unimplemented") }

// DeepCopy returns an independent copy.
func (o *Object) DeepCopy() *Object { panic("unimplemented") }

func (o *Object) MarshalJSON() ([]byte, error) { panic("unimplemented") }
func (o *Object) UnmarshalJSON(b []byte) error { panic("unimplemented") }

// Client talks to one API server. Safe for concurrent use.
type Client struct{}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) { panic("unimplemented") }

func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (*Object, error) {
	panic("unimplemented")
}

// Create POSTs obj to its namespace's collection and returns what the server stored.
func (c *Client) Create(ctx context.Context, r Resource, obj *Object) (*Object, error) {
	panic("unimplemented")
}

// Update PUTs obj, carrying the resourceVersion it holds, and returns what
// the server stored. A stale resourceVersion gives a Conflict error.
func (c *Client) Update(ctx context.Context, r Resource, obj *Object) (*Object, error) {
	panic("unimplemented")
}

func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string) error {
	panic("unimplemented")
}

// WatchOptions tune a single-object watch.
type WatchOptions struct {
	ResourceVersion string // start after this version; "" means current state first
	TimeoutSeconds  int    // server-side timeout; 0 lets the server choose
	AllowBookmarks  bool
}

// Watch opens a watch on the one object named name.
func (c *Client) Watch(ctx context.Context, r Resource, namespace, name string, opts WatchOptions) (*Watcher, error) {
	panic("unimplemented")
}

// EventType is the type of a watch event.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
	Error    EventType = "ERROR"
)

// WatchEvent is one event of a watch stream.
type WatchEvent struct {
	Type   EventType
	Object *Object
}

// Watcher reads one watch stream.
type Watcher struct{}

// Next blocks for the next event. An ERROR event is returned as a
// *StatusError (IsGone for 410); the end of the stream is io.EOF.
func (w *Watcher) Next() (WatchEvent, error) { panic("unimplemented") }

// Close ends the stream.
func (w *Watcher) Close() error { panic("unimplemented") }

// StatusError is a non-2xx answer, decoded from a Kubernetes Status body
// when there is one.
type StatusError struct {
	Code       int
	Reason     string // "NotFound", "Conflict", "AlreadyExists", ...
	Message    string
	Details    *StatusDetails
	RetryAfter time.Duration
	Method     string
	Path       string
	Body       string // short snippet when the body was not a Status
}

// StatusDetails is the details field of a Status.
type StatusDetails struct {
	Name              string        `json:"name,omitempty"`
	Group             string        `json:"group,omitempty"`
	Kind              string        `json:"kind,omitempty"`
	UID               string        `json:"uid,omitempty"`
	Causes            []StatusCause `json:"causes,omitempty"`
	RetryAfterSeconds int           `json:"retryAfterSeconds,omitempty"`
}

// StatusCause is one cause in StatusDetails.
type StatusCause struct {
	Type    string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Field   string `json:"field,omitempty"`
}

func (e *StatusError) Error() string { panic("unimplemented") }

func IsNotFound(err error) bool        { panic("unimplemented") }
func IsConflict(err error) bool        { panic("unimplemented") }
func IsAlreadyExists(err error) bool   { panic("unimplemented") }
func IsForbidden(err error) bool       { panic("unimplemented") }
func IsUnauthorized(err error) bool    { panic("unimplemented") }
func IsGone(err error) bool            { panic("unimplemented") }
func IsTooManyRequests(err error) bool { panic("unimplemented") }

// RetryAfter returns the server's Retry-After advice carried by err.
func RetryAfter(err error) (time.Duration, bool) { panic("unimplemented") }
