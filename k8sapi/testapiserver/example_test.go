package testapiserver_test

import (
	"context"
	"fmt"

	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// Test code against the in-process server: the client reaches it without
// sockets, and FailNext makes the API server misbehave on purpose.
func ExampleServer_FailNext() {
	srv := testapiserver.New(testapiserver.Options{})
	client := srv.Client()
	ctx := context.Background()
	_, err := client.Create(ctx, k8sapi.ConfigMaps, k8sapi.NewObject(k8sapi.ConfigMaps, "default", "settings"))
	fmt.Println("create:", err)

	srv.FailNext(1, 500)
	_, err = client.Get(ctx, k8sapi.ConfigMaps, "default", "settings")
	fmt.Println("get:", err)
	_, err = client.Get(ctx, k8sapi.ConfigMaps, "default", "settings")
	fmt.Println("get again:", err)
	// Output:
	// create: <nil>
	// get: k8sapi: GET /api/v1/namespaces/default/configmaps/settings: 500 InternalError: testapiserver: injected 500
	// get again: <nil>
}
