// Package interop023 proves the seed's own lock types against the
// implementation they came from: client-go v0.23.17, the last line that
// ships EndpointsLock and ConfigMapLock, shares Endpoints and ConfigMap
// locks with this library's candidates on a real kube-apiserver. Its tests
// run only with KUBELECT_REAL_API=1 (see test/kube).
package interop023
