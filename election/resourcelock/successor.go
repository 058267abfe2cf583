package resourcelock

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kubelect/kubelect/k8sapi"
)

// SuccessorAnnotationKey is the Lease annotation through which a follower
// of this package offers to take the lock next, so that a planned handover
// does not wait for a race among all the followers. Its value is the JSON
// {"holderIdentity": "<follower>", "leaderTransitions": <term>}: the offer
// holds for that term only, so each new leadership gets a fresh one.
// LeaseLock reads it into LeaderElectionRecord.Successor and its own writes
// of the record keep it as it is. It is a hint: anyone may still take a
// released or expired lock.
const SuccessorAnnotationKey = "kubelect.io/successor"

// successorOffer is the value of SuccessorAnnotationKey.
type successorOffer struct {
	HolderIdentity    string `json:"holderIdentity"`
	LeaderTransitions int    `json:"leaderTransitions"`
}

// successorOf is the follower the Lease obj names as successor for term:
// empty when it names none, names one for another term, or holds a value
// that does not decode.
func successorOf(obj *k8sapi.Object, term int) string {
	v := stringField(obj, "metadata", "annotations", SuccessorAnnotationKey)
	if v == "" {
		return ""
	}
	var o successorOffer
	if json.Unmarshal([]byte(v), &o) != nil || o.LeaderTransitions != term {
		return ""
	}
	return o.HolderIdentity
}

// offerSuccessor names this lock's candidate as the successor of the
// holder of term, when the Lease names none for it: it reads the Lease and
// updates its annotation alone, conditional on the resourceVersion read, so
// a concurrent write (a renewal, another offer) makes it fail with a
// Conflict. It offers nothing (false, nil) when the lock has moved on from
// term, is released or held by this candidate, or names a successor
// already.
func (l *LeaseLock) offerSuccessor(ctx context.Context, term int) (bool, error) {
	c, err := l.client()
	if err != nil {
		return false, err
	}
	obj, err := c.Get(ctx, k8sapi.Leases, l.LeaseMeta.Namespace, l.LeaseMeta.Name)
	if err != nil {
		return false, err
	}
	l.cache.store(obj)
	rec, _, err := decodeLease(obj)
	if err != nil {
		return false, err
	}
	if rec.LeaderTransitions != term || rec.HolderIdentity == "" || rec.HolderIdentity == l.LockConfig.Identity || rec.Successor != "" {
		return false, nil
	}
	b, err := json.Marshal(successorOffer{HolderIdentity: l.LockConfig.Identity, LeaderTransitions: term})
	if err != nil {
		return false, err
	}
	edit := obj.DeepCopy()
	if err := edit.SetAnnotation(SuccessorAnnotationKey, string(b)); err != nil {
		return false, fmt.Errorf("resourcelock: offer to succeed: %w", err)
	}
	updated, err := c.Update(ctx, k8sapi.Leases, edit)
	if err != nil {
		return false, err
	}
	l.cache.store(updated)
	return true, nil
}
