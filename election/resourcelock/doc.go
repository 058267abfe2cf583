// Package resourcelock holds the lock objects of an election and the record
// they store.
//
// A lock is one object in the API server that holds a LeaderElectionRecord:
// who leads, for how long a lease lasts, when it was acquired and renewed,
// and how many times the holder changed. Three kinds exist:
//
//   - LeaseLock: a coordination.k8s.io/v1 Lease, the record in its spec
//     (holderIdentity, leaseDurationSeconds, acquireTime, renewTime with
//     microseconds, leaseTransitions). The default for new programs.
//   - EndpointsLock: the seed's lock, the record as JSON in the annotation
//     control-plane.alpha.kubernetes.io/leader of an Endpoints object
//     (times in RFC 3339 with seconds).
//   - ConfigMapLock: the same annotation on a ConfigMap.
//
// The wire formats are client-go's, so candidates of this package and of
// client-go can share one lock. An update changes only the record: labels,
// owner references, other annotations, an Endpoints object's subsets, a
// ConfigMap's data and fields this package does not know go back to the
// server as they came. Every update carries the resourceVersion of the
// object last read or written, so a concurrent writer makes it fail with a
// Conflict instead of being overwritten; a failed update keeps that object.
//
// The three single locks also implement RecordWatcher: a single-object
// watch that the elector's followers use instead of polling.
//
// ResourceLockConfig.Labels and Annotations go on the lock object when it is
// created and are set again by every update, so that the object can be found
// with a label selector. New and each lock's Validate refuse, with an error
// wrapping ErrInvalidLock, what the API server would always refuse (invalid
// names, namespaces, labels, annotations) and what cannot work (no client, no
// identity); a lock built without a Client fails every call with that error.
//
// # Planned transfer
//
// RequestTransfer names a preferred holder on a Lease lock, in the annotation
// PreferredHolderAnnotationKey (kube-apiserver keeps spec.preferredHolder only
// with the CoordinatedLeaderElection feature gate on). LeaseLock reads it into
// LeaderElectionRecord.PreferredHolder, writes the record's PreferredHolder
// back, and keeps spec.strategy as it is; the raw bytes of a Lease are its
// spec, so a request alone is no renewal. The annotation locks store no
// transfer request.
//
// # Successor
//
// While another candidate holds a Lease lock, the followers of package
// election offer to take it next: one of them writes its identity and the
// term into the annotation SuccessorAnnotationKey, which LeaseLock reads into
// LeaderElectionRecord.Successor for that term only. Like a transfer request
// it changes no field of the record, and the lock's own writes keep it. The
// annotation locks store no offers.
//
// # Migrating a running fleet
//
// MultiLock writes the record to two locks. To move a fleet from an
// Endpoints (or ConfigMap) lock to a Lease without a moment with two
// leaders, first roll out every candidate with the endpointsleases (or
// configmapsleases) kind of New, then roll out the leases kind.
//
// A lock is used by one elector; its methods are safe for concurrent use
// but are not meant to be called concurrently.
package resourcelock
