package election

import "sync"

// notifier calls OnNewLeader from one goroutine, in the order of push, so
// that a slow callback never holds up the elector and the identities arrive
// in the order they were observed.
type notifier struct {
	fn func(identity string)

	mu     sync.Mutex
	queue  []string      // guarded by mu
	closed bool          // guarded by mu
	wake   chan struct{} // buffered(1): queue or closed changed
}

// newNotifier starts the goroutine that calls fn; nil (no goroutine, no
// memory) when fn is nil. A nil notifier's methods do nothing.
func newNotifier(fn func(string)) *notifier {
	if fn == nil {
		return nil
	}
	n := &notifier{fn: fn, wake: make(chan struct{}, 1)}
	go n.loop()
	return n
}

func (n *notifier) push(identity string) {
	if n == nil {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.queue = append(n.queue, identity)
	}
	n.mu.Unlock()
	n.signal()
}

// close ends the goroutine once it has delivered what is queued. It does
// not wait: a callback that blocks holds only its own goroutine.
func (n *notifier) close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.signal()
}

func (n *notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	for range n.wake {
		for {
			n.mu.Lock()
			if len(n.queue) == 0 {
				closed := n.closed
				n.mu.Unlock()
				if closed {
					return
				}
				break
			}
			id := n.queue[0]
			n.queue = n.queue[1:]
			n.mu.Unlock()
			n.fn(id)
		}
	}
}
