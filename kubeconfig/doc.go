// Package kubeconfig loads kubeconfig files, as kubectl and the cloud
// CLIs (kind, minikube, gcloud, aws, az) write them, into a k8sapi.Config,
// so that a program using github.com/kubelect/kubelect runs from a laptop
// against any cluster that kubectl reaches.
//
// Load reads $KUBECONFIG (several files merged in kubectl's order) or
// ~/.kube/config, or one file named by Options.Path, and returns the config
// of the current context or of Options.Context, with its namespace.
// InClusterOrLoad picks the pod's service account inside a cluster and a
// kubeconfig outside it:
//
//	cfg, err := kubeconfig.InClusterOrLoad(kubeconfig.Options{Path: *kubeconfigFlag, Context: *contextFlag})
//	if err != nil {
//		log.Fatal(err)
//	}
//	client, err := k8sapi.New(*cfg)
//
// Exec credential plugins (gke-gcloud-auth-plugin, aws eks get-token,
// kubelogin, …) run when the first request needs a credential; what they
// return is cached until it expires, and they run again when the server
// refuses it.
//
// The server's certificate is always verified: insecure-skip-tls-verify is
// refused, as are the legacy auth-providers and basic auth, with an error
// that says what to use instead. No token, password or key appears in an
// error or a log line.
//
// This package is its own Go module, because it needs a YAML parser
// (go.yaml.in/yaml/v3); the library module stays free of dependencies.
package kubeconfig
