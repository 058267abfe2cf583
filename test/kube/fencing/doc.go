// Package fencing tests the fencing token (the resourceVersion of the
// write that began a leadership) against a real kube-apiserver and etcd
// (the harness): that it grows across every kind of leadership change on
// a lock, and that a paused ex-leader's late writes are refused by
// fencing.UpdateObject and by a fencing.Checker. It runs only with
// KUBELECT_REAL_API=1, against the kube-apiserver the harness starts
// ($KUBELECT_APISERVER picks an older one).
package fencing
