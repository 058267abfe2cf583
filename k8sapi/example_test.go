package k8sapi_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/kubelect/kubelect/k8sapi"
)

// ExampleClient_Update reads a Lease, changes its holder and writes it
// back; the server answers the stale second write with a Conflict.
func ExampleClient_Update() {
	// A stand-in for the API server, with its own CA.
	version := 1
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var obj k8sapi.Object
		if r.Method == http.MethodPut {
			if err := json.NewDecoder(r.Body).Decode(&obj); err != nil || obj.ResourceVersion() != fmt.Sprint(version) {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","message":"the object has been modified","code":409}`)
				return
			}
			version++
		} else {
			obj = *k8sapi.NewObject(k8sapi.Leases, "default", "my-lock")
			obj.SetField("a", "spec", "holderIdentity")
		}
		obj.SetField(fmt.Sprint(version), "metadata", "resourceVersion")
		json.NewEncoder(w).Encode(&obj)
	}))
	defer srv.Close()

	client, err := k8sapi.New(k8sapi.Config{
		Host:        srv.URL,
		CAData:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}),
		BearerToken: "token",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	lease, err := client.Get(ctx, k8sapi.Leases, "default", "my-lock")
	if err != nil {
		fmt.Println(err)
		return
	}
	var holder string
	lease.DecodeField(&holder, "spec", "holderIdentity")
	fmt.Println("holder:", holder, "version:", lease.ResourceVersion())

	lease.SetField("b", "spec", "holderIdentity")
	updated, err := client.Update(ctx, k8sapi.Leases, lease)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("updated to version", updated.ResourceVersion())

	_, err = client.Update(ctx, k8sapi.Leases, lease) // lease still holds version 1
	fmt.Println("conflict:", k8sapi.IsConflict(err))
	fmt.Println(err)
	// Output:
	// holder: a version: 1
	// updated to version 2
	// conflict: true
	// k8sapi: PUT /apis/coordination.k8s.io/v1/namespaces/default/leases/my-lock: 409 Conflict: the object has been modified
}
