package watchloop

import (
	"math/rand/v2"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// minMaxWait is the longest wait before a new watch when 8·RetryPeriod is
// shorter: long enough that a server in trouble is not pressed, short
// enough that a follower soon watches again instead of polling.
const minMaxWait = 30 * time.Second

// MaxWait is the longest wait before a new watch for a watcher that retries
// every retry: the ceiling of the doubling backoff, and of the server's
// Retry-After. One ceiling for both, so that a server that asks for a wait
// is never answered sooner than a backoff of its own would have waited.
func MaxWait(retry time.Duration) time.Duration {
	return max(8*retry, minMaxWait)
}

// Jitter is d plus a random part of up to factor·d, so that candidates
// that failed together do not retry together.
func Jitter(d time.Duration, factor float64) time.Duration {
	return d + time.Duration(rand.Float64()*factor*float64(d))
}

// RetryAfter is wait, or the Retry-After that err carries when that is
// longer, up to limit: a server that asks to be left alone is, within
// reason.
func RetryAfter(wait time.Duration, err error, limit time.Duration) time.Duration {
	if ra, ok := k8sapi.RetryAfter(err); ok {
		return max(wait, min(ra, limit))
	}
	return wait
}
