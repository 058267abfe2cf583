package testapiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// The patch types the server applies. Strategic merge patch and server-side
// apply are not among them: they get 415, as a custom resource's do on the
// real server.
const (
	jsonPatchType  = "application/json-patch+json"
	mergePatchType = "application/merge-patch+json"
)

// patch answers a PATCH of the object r names, with kube-apiserver's codes
// and messages (checked against 1.37): 415 for a patch type it does not
// apply, 404 for a missing object, 400 for a body that is not a patch, 422
// Invalid for a JSON Patch that does not apply (a failed "test", a path
// that is not there: the real server keeps the reason to itself), 409 for a
// resourceVersion or uid in the patched object that is not the stored one.
// The patched object is then stored as an update is: a patch that changes
// nothing keeps the resourceVersion.
func (s *Server) patch(w http.ResponseWriter, req *http.Request, r request) {
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != jsonPatchType && mt != mergePatchType {
		writeStatus(w, failure(http.StatusUnsupportedMediaType, "", "415: Unsupported Media Type", &statusDetails{}))
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil {
		writeStatus(w, failure(http.StatusBadRequest, "", "reading the request body: "+err.Error(), nil))
		return
	}
	if len(body) > maxBody {
		writeStatus(w, failure(http.StatusRequestEntityTooLarge, "", "the request body is too large", nil))
		return
	}
	p, err := decodeValue(body)
	if err != nil {
		writeStatus(w, failure(http.StatusBadRequest, "", "invalid JSON patch", nil))
		return
	}
	var apply func(doc any) (any, *status)
	if mt == jsonPatchType {
		ops, err := decodeJSONPatch(p)
		if err != nil {
			writeStatus(w, failure(http.StatusBadRequest, "", err.Error(), nil))
			return
		}
		apply = func(doc any) (any, *status) {
			out, err := applyJSONPatch(doc, ops)
			if err != nil {
				return nil, failure(http.StatusUnprocessableEntity, "", "the server rejected our request due to an error in our request", &statusDetails{})
			}
			return out, nil
		}
	} else {
		switch p.(type) {
		case map[string]any:
		case nil:
			writeStatus(w, failure(http.StatusBadRequest, "", "Invalid JSON Patch", nil))
			return
		default:
			writeStatus(w, failure(http.StatusBadRequest, "", fmt.Sprintf(
				"error decoding patch: json: cannot unmarshal %s into Go value of type map[string]interface {}", jsonKind(p)), nil))
			return
		}
		apply = func(doc any) (any, *status) { return mergePatch(doc, p), nil }
	}

	s.mu.Lock()
	old, ok := s.objects[r.key()]
	if !ok {
		s.mu.Unlock()
		writeStatus(w, notFound(r))
		return
	}
	out, st := apply(any(deepCopy(old)))
	if st == nil {
		st = checkPatched(r, old, out)
	}
	var code int
	var answer any = st
	if st == nil {
		code, answer = s.updateLocked(r, out.(map[string]any))
	}
	s.mu.Unlock()
	if st, ok := answer.(*status); ok {
		writeStatus(w, st)
		return
	}
	writeJSON(w, code, answer)
}

// checkPatched checks what a patch made of old: still an object of r's
// kind and namespace. It fills in a resourceVersion the patch removed (the
// patch then is not conditional on one).
func checkPatched(r request, old map[string]any, out any) *status {
	obj, ok := out.(map[string]any)
	if !ok {
		return failure(http.StatusUnprocessableEntity, "", "the patched object is not a JSON object", &statusDetails{})
	}
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		return failure(http.StatusUnprocessableEntity, "", "the patched object has no metadata", &statusDetails{})
	}
	if str(obj["kind"]) != r.kind || str(obj["apiVersion"]) != r.apiVersion() {
		return failure(http.StatusBadRequest, "", fmt.Sprintf("the patch changes the kind or apiVersion of %s %q", r.qualified(), r.name), nil)
	}
	if str(md["namespace"]) != r.namespace {
		return failure(http.StatusBadRequest, "", "the namespace of the provided object does not match the namespace sent on the request", nil)
	}
	if str(md["resourceVersion"]) == "" {
		md["resourceVersion"] = meta(old)["resourceVersion"]
	}
	// The real server stores typed objects: an empty map is no map.
	for _, k := range []string{"labels", "annotations"} {
		if m, ok := md[k].(map[string]any); ok && len(m) == 0 {
			delete(md, k)
		}
	}
	return nil
}

// decodeValue decodes one JSON value, keeping numbers as they were written.
func decodeValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid character after top-level value")
	}
	return v, nil
}

// mergePatch applies a JSON merge patch (RFC 7386) to doc.
func mergePatch(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
			continue
		}
		d[k] = mergePatch(d[k], v)
	}
	return d
}

// jsonPatchOp is one operation of a JSON Patch (RFC 6902).
type jsonPatchOp struct {
	Op    string           `json:"op"`
	Path  *string          `json:"path"`
	From  *string          `json:"from"`
	Value *json.RawMessage `json:"value"`
}

// decodeJSONPatch reads a JSON Patch, p as decodeValue returns it: a list
// of operations. The error is worded as the real server's, which decodes
// into a list of its type handlers.jsonPatchOp.
func decodeJSONPatch(p any) ([]jsonPatchOp, error) {
	if p == nil {
		return nil, nil // null is an empty patch
	}
	list, ok := p.([]any)
	if !ok {
		return nil, fmt.Errorf("error decoding patch: json: cannot unmarshal %s into Go value of type []handlers.jsonPatchOp", jsonKind(p))
	}
	for _, v := range list {
		if _, ok := v.(map[string]any); !ok && v != nil {
			return nil, fmt.Errorf("error decoding patch: json: cannot unmarshal %s into Go value of type handlers.jsonPatchOp", jsonKind(v))
		}
	}
	var ops []jsonPatchOp
	if err := json.Unmarshal(mustJSON(list), &ops); err != nil {
		return nil, fmt.Errorf("error decoding patch: %w", err)
	}
	return ops, nil
}

// jsonKind names the kind of a decoded JSON value as encoding/json does.
func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// errPatch is a JSON Patch that does not apply.
var errPatch = errors.New("the patch does not apply")

// applyJSONPatch applies ops to doc in order, all or nothing: doc is a
// value decodeValue returns, and is changed in place.
func applyJSONPatch(doc any, ops []jsonPatchOp) (any, error) {
	for i, op := range ops {
		var err error
		if op.Path == nil {
			return nil, fmt.Errorf("%w: operation %d has no path", errPatch, i)
		}
		path, err := parsePointer(*op.Path)
		if err != nil {
			return nil, err
		}
		value := func() (any, error) {
			if op.Value == nil {
				return nil, fmt.Errorf("%w: operation %d (%s) has no value", errPatch, i, op.Op)
			}
			return decodeValue(*op.Value)
		}
		from := func() ([]string, error) {
			if op.From == nil {
				return nil, fmt.Errorf("%w: operation %d (%s) has no from", errPatch, i, op.Op)
			}
			return parsePointer(*op.From)
		}
		switch op.Op {
		case "add", "replace", "test":
			var v any
			if v, err = value(); err != nil {
				return nil, err
			}
			switch op.Op {
			case "add":
				doc, err = add(doc, path, v)
			case "replace":
				doc, err = replace(doc, path, v)
			default:
				var cur any
				if cur, err = get(doc, path); err == nil && !jsonEqual(cur, v) {
					err = fmt.Errorf("%w: test of %s failed", errPatch, *op.Path)
				}
			}
		case "remove":
			doc, _, err = remove(doc, path)
		case "move", "copy":
			var src []string
			if src, err = from(); err != nil {
				return nil, err
			}
			var v any
			if op.Op == "move" {
				doc, v, err = remove(doc, src)
			} else if v, err = get(doc, src); err == nil {
				v, err = decodeValue(mustJSON(v)) // a copy, not an alias
			}
			if err == nil {
				doc, err = add(doc, path, v)
			}
		default:
			err = fmt.Errorf("%w: operation %d: unknown op %q", errPatch, i, op.Op)
		}
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// parsePointer splits a JSON Pointer (RFC 6901) into its unescaped tokens.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%w: path %q does not start with /", errPatch, p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return tokens, nil
}

// index is the array index token t names in an array of n elements; "-"
// (the end) only when end is set.
func index(t string, n int, end bool) (int, error) {
	if t == "-" && end {
		return n, nil
	}
	i, err := strconv.Atoi(t)
	if err != nil || i < 0 || i > n || (i == n && !end) || (len(t) > 1 && t[0] == '0') {
		return 0, fmt.Errorf("%w: index %q out of range", errPatch, t)
	}
	return i, nil
}

// get returns the value at path.
func get(doc any, path []string) (any, error) {
	for _, t := range path {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[t]
			if !ok {
				return nil, fmt.Errorf("%w: %q is missing", errPatch, t)
			}
			doc = v
		case []any:
			i, err := index(t, len(d), false)
			if err != nil {
				return nil, err
			}
			doc = d[i]
		default:
			return nil, fmt.Errorf("%w: %q is missing", errPatch, t)
		}
	}
	return doc, nil
}

// add puts v at path: a new or replaced field of an object, or an element
// inserted into an array. The parent must exist.
func add(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := get(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
		return doc, nil
	case []any:
		i, err := index(last, len(p), true)
		if err != nil {
			return nil, err
		}
		grown := append(p[:i:i], append([]any{v}, p[i:]...)...)
		return set(doc, path[:len(path)-1], grown)
	}
	return nil, fmt.Errorf("%w: the parent of %q is not an object or an array", errPatch, last)
}

// replace puts v in place of the value at path. As kube-apiserver's JSON
// Patch does, a missing field of an object is added (RFC 6902 would refuse
// it); a missing array element or parent is refused.
func replace(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := get(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	if p, ok := parent.(map[string]any); ok {
		p[path[len(path)-1]] = v
		return doc, nil
	}
	if doc, _, err = remove(doc, path); err != nil {
		return nil, err
	}
	return add(doc, path, v)
}

// remove takes the value at path out and returns it. It must exist.
func remove(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, doc, nil
	}
	parent, err := get(doc, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		v, ok := p[last]
		if !ok {
			return nil, nil, fmt.Errorf("%w: %q is missing", errPatch, last)
		}
		delete(p, last)
		return doc, v, nil
	case []any:
		i, err := index(last, len(p), false)
		if err != nil {
			return nil, nil, err
		}
		v := p[i]
		shrunk := append(append([]any(nil), p[:i]...), p[i+1:]...)
		doc, err = set(doc, path[:len(path)-1], shrunk)
		return doc, v, err
	}
	return nil, nil, fmt.Errorf("%w: the parent of %q is not an object or an array", errPatch, last)
}

// set replaces the value at path, which exists, with v.
func set(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := get(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch p := parent.(type) {
	case map[string]any:
		p[last] = v
	case []any:
		i, err := index(last, len(p), false)
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	return doc, nil
}

// jsonEqual compares two decoded values as JSON: numbers by value.
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return err1 == nil && err2 == nil && fx == fy
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
