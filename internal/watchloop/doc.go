// Package watchloop is the library's one watch component: how a watch of a
// lock is kept open (reopened at once after a long run, after a jittered,
// doubling backoff after a short one, restarted when it goes silent, given
// up when the server forbids it, Retry-After honoured) and how one watch
// stream is read. The elector's follower, the Observer and the shared
// watch of a collection all watch through it, so that they cannot drift
// apart.
package watchloop
