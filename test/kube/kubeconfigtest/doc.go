// Package kubeconfigtest runs the kubeconfig loader
// (github.com/kubelect/kubelect/kubeconfig) against a real kube-apiserver
// started by the harness. Its tests write kubeconfig files laid out as
// kubectl writes them, load them, and make real requests with k8sapi:
// tokens and token files (rotated on disk), client certificates signed by
// the cluster's client CA, tls-server-name, exec credential plugins (v1
// and v1beta1, played by testdata/execplugin), the errors a user meets,
// and KUBECONFIG merging. They assert who the server thinks the client is
// through a SelfSubjectReview.
//
// The tests that need the server run only with KUBELECT_REAL_API=1;
// otherwise they report themselves as skipped. TestLayoutMatchesKubectl,
// which checks the files' layout against kubectl's, needs only kubectl.
package kubeconfigtest
