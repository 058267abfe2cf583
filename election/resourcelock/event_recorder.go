package resourcelock

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// EventRecorder records Kubernetes events about an object. Implementations
// must not block the caller.
type EventRecorder interface {
	// Eventf records an event of eventType ("Normal" or "Warning") with a
	// CamelCase reason and a formatted message about obj.
	Eventf(obj ObjectReference, eventType, reason, messageFmt string, args ...any)
}

// ObjectReference names the object an event is about.
type ObjectReference struct {
	Kind, APIVersion, Namespace, Name, UID, ResourceVersion string
}

// APIEventRecorder posts core/v1 Events through a k8sapi.Client from one
// goroutine. Eventf never blocks: when the queue is full the event is
// dropped and counted. Close stops the goroutine.
type APIEventRecorder struct {
	client    *k8sapi.Client
	component string
	host      string
	log       *slog.Logger
	queue     chan event
	dropped   atomic.Int64
	closeOnce sync.Once
	done      chan struct{}
}

type event struct {
	ref                    ObjectReference
	eventType, reason, msg string
	at                     time.Time
}

// eventQueue is how many events may wait to be posted.
const eventQueue = 32

// NewEventRecorder returns a recorder whose events say they come from
// component on host (host may be empty). With a nil client it drops every
// event (logged at debug level).
func NewEventRecorder(client *k8sapi.Client, component, host string) *APIEventRecorder {
	r := &APIEventRecorder{
		client: client, component: component, host: host, log: slog.Default(),
		queue: make(chan event, eventQueue), done: make(chan struct{}),
	}
	go r.loop()
	return r
}

// Eventf queues an event; it never blocks.
func (r *APIEventRecorder) Eventf(obj ObjectReference, eventType, reason, messageFmt string, args ...any) {
	e := event{ref: obj, eventType: eventType, reason: reason, msg: fmt.Sprintf(messageFmt, args...), at: time.Now()}
	defer func() {
		if recover() != nil { // sent after Close
			r.dropped.Add(1)
		}
	}()
	select {
	case r.queue <- e:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is the number of events dropped because the queue was full or
// the recorder closed.
func (r *APIEventRecorder) Dropped() int64 { return r.dropped.Load() }

// Close posts what is queued and stops the recorder.
func (r *APIEventRecorder) Close() {
	r.closeOnce.Do(func() { close(r.queue) })
	<-r.done
}

func (r *APIEventRecorder) loop() {
	defer close(r.done)
	for e := range r.queue {
		if err := r.post(e); err != nil {
			r.log.Debug("resourcelock: event not recorded", "reason", e.reason, "err", err)
		}
	}
}

func (r *APIEventRecorder) post(e event) error {
	if r.client == nil {
		return fmt.Errorf("%w: the event recorder has no client", ErrInvalidLock)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := e.ref.Name + "." + strconv.FormatInt(e.at.UnixNano(), 16)
	obj := k8sapi.NewObject(k8sapi.Events, e.ref.Namespace, name)
	ts := e.at.UTC().Format(time.RFC3339)
	for _, f := range []struct {
		value any
		path  string
	}{
		{map[string]string{"kind": e.ref.Kind, "apiVersion": e.ref.APIVersion, "namespace": e.ref.Namespace,
			"name": e.ref.Name, "uid": e.ref.UID, "resourceVersion": e.ref.ResourceVersion}, "involvedObject"},
		{e.reason, "reason"},
		{e.msg, "message"},
		{e.eventType, "type"},
		{map[string]string{"component": r.component, "host": r.host}, "source"},
		{ts, "firstTimestamp"},
		{ts, "lastTimestamp"},
		{1, "count"},
		{r.component, "reportingComponent"},
		{r.host, "reportingInstance"},
	} {
		if err := obj.SetField(f.value, f.path); err != nil {
			return err
		}
	}
	_, err := r.client.Create(ctx, k8sapi.Events, obj)
	return err
}
