package fencing_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kubelect/kubelect/fencing"
	"github.com/kubelect/kubelect/k8sapi"
	"github.com/kubelect/kubelect/k8sapi/testapiserver"
)

// newConfigMap stores a ConfigMap "orders" in namespace "ns", with the
// fencing annotation set to annotation unless it is empty.
func newConfigMap(t *testing.T, c *k8sapi.Client, annotation string) {
	t.Helper()
	obj := k8sapi.NewObject(k8sapi.ConfigMaps, "ns", "orders")
	if annotation != "" {
		if err := obj.SetAnnotation(fencing.AnnotationKey, annotation); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Create(context.Background(), k8sapi.ConfigMaps, obj); err != nil {
		t.Fatal(err)
	}
}

func setData(v string) func(*k8sapi.Object) error {
	return func(o *k8sapi.Object) error { return o.SetField(v, "data", "owner") }
}

func owner(t *testing.T, o *k8sapi.Object) string {
	t.Helper()
	var v string
	if _, err := o.DecodeField(&v, "data", "owner"); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpdateObjectRefusesALowerToken(t *testing.T) {
	ctx := context.Background()
	c := testapiserver.New(testapiserver.Options{}).Client()
	newConfigMap(t, c, "")

	got, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 7, setData("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations()[fencing.AnnotationKey] != "7" || owner(t, got) != "a" {
		t.Errorf("stored %v, owner %q; want token 7 and owner a", got.Annotations(), owner(t, got))
	}
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 7, setData("a2")); err != nil {
		t.Errorf("the same token again: %v", err)
	}
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 9, setData("b")); err != nil {
		t.Fatal(err)
	}
	_, err = fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 7, func(*k8sapi.Object) error {
		t.Error("mutate was called for a stale token")
		return nil
	})
	var se *fencing.StaleError
	if !errors.As(err, &se) || !errors.Is(err, fencing.ErrStale) || se.Token != 7 || se.Highest != 9 {
		t.Errorf("a stale update: %v; want a StaleError 7 < 9", err)
	}
	obj, err := c.Get(ctx, k8sapi.ConfigMaps, "ns", "orders")
	if err != nil {
		t.Fatal(err)
	}
	if owner(t, obj) != "b" || obj.Annotations()[fencing.AnnotationKey] != "9" {
		t.Errorf("after the refusal: owner %q, token %q; want b and 9", owner(t, obj), obj.Annotations()[fencing.AnnotationKey])
	}
}

// A newer leader's write between the read and the update makes the update
// fail with a Conflict, and the next try finds the newer token.
func TestUpdateObjectConflict(t *testing.T) {
	ctx := context.Background()
	c := testapiserver.New(testapiserver.Options{}).Client()
	newConfigMap(t, c, "5")
	_, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 5, func(o *k8sapi.Object) error {
		// The old leader has read token 5; the new one writes now.
		if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 8, setData("new")); err != nil {
			t.Fatal(err)
		}
		return setData("old")(o)
	})
	if !k8sapi.IsConflict(err) {
		t.Fatalf("an update over a changed object: %v; want a Conflict", err)
	}
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 5, setData("old")); !errors.Is(err, fencing.ErrStale) {
		t.Errorf("the retry: %v; want ErrStale", err)
	}
}

func TestUpdateObjectErrors(t *testing.T) {
	ctx := context.Background()
	c := testapiserver.New(testapiserver.Options{}).Client()
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 1, nil); !k8sapi.IsNotFound(err) {
		t.Errorf("a missing object: %v; want NotFound", err)
	}
	newConfigMap(t, c, "00x")
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 1, nil); !errors.Is(err, fencing.ErrInvalidToken) {
		t.Errorf("an annotation set by hand to garbage: %v; want ErrInvalidToken", err)
	}
	if _, err := fencing.UpdateObject(ctx, c, k8sapi.ConfigMaps, "ns", "orders", 0, nil); !errors.Is(err, fencing.ErrInvalidToken) {
		t.Errorf("token 0: %v; want ErrInvalidToken", err)
	}
	boom := errors.New("boom")
	c2 := testapiserver.New(testapiserver.Options{}).Client()
	newConfigMap(t, c2, "")
	if _, err := fencing.UpdateObject(ctx, c2, k8sapi.ConfigMaps, "ns", "orders", 3, func(*k8sapi.Object) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("mutate's error: %v", err)
	}
	obj, _ := c2.Get(ctx, k8sapi.ConfigMaps, "ns", "orders")
	if _, ok := obj.Annotations()[fencing.AnnotationKey]; ok {
		t.Errorf("a failed mutate wrote the token")
	}
}
