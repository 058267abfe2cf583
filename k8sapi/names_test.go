package k8sapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubelect/kubelect/k8sapi"
)

func TestValidateName(t *testing.T) {
	ok := []string{"a", "my-lock", "lock.example.com", "0", "a-b.c-d", strings.Repeat("a", 63) + "." + strings.Repeat("b", 189)}
	bad := []string{"", "-a", "a-", "A", "my_lock", "a/b", "a..b", ".a", "a.", "a.-b", "é", "a b", strings.Repeat("a", 254)}
	for _, n := range ok {
		if err := k8sapi.ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		err := k8sapi.ValidateName(n)
		if !errors.Is(err, k8sapi.ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestValidateNamespace(t *testing.T) {
	ok := []string{"default", "kube-system", "a", strings.Repeat("a", 63)}
	bad := []string{"", "a.b", "Default", "-a", "a-", "a/b", strings.Repeat("a", 64)}
	for _, n := range ok {
		if err := k8sapi.ValidateNamespace(n); err != nil {
			t.Errorf("ValidateNamespace(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := k8sapi.ValidateNamespace(n); !errors.Is(err, k8sapi.ErrInvalidName) {
			t.Errorf("ValidateNamespace(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

// TestRequestRejectsPathSegments: a name holding '/' would address a
// sub-resource; the client refuses it before sending anything.
func TestRequestRejectsPathSegments(t *testing.T) {
	c, err := k8sapi.New(k8sapi.Config{Host: "http://127.0.0.1:1", BearerToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a/status", "a%2Fb", "..", ""} {
		_, err := c.Get(context.Background(), k8sapi.Leases, "ns", name)
		if !errors.Is(err, k8sapi.ErrInvalidName) {
			t.Errorf("Get(%q) = %v, want ErrInvalidName", name, err)
		}
		_, err = c.Get(context.Background(), k8sapi.Leases, name, "x")
		if !errors.Is(err, k8sapi.ErrInvalidName) {
			t.Errorf("Get in namespace %q = %v, want ErrInvalidName", name, err)
		}
	}
}
