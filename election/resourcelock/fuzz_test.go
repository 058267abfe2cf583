package resourcelock

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kubelect/kubelect/k8sapi"
)

// Fuzz targets for the record codecs: the time format, the record's JSON
// and the records that the locks read from arbitrary objects. The locks
// are driven through their Interface over a client that answers from
// memory, so these targets do not depend on how the locks decode inside.
// Only "no panic" holds for every input; where a record decodes, it must
// survive a write and a read unchanged. The seeds below and the files in
// testdata/fuzz run with every plain "go test".

// FuzzTimeJSON: a time that decodes encodes, and decodes again to the
// same second.
func FuzzTimeJSON(f *testing.F) {
	for _, s := range []string{
		`"2017-01-20T10:05:00Z"`, `"2017-01-20T10:05:00.123456789+05:30"`, `null`, `""`,
		`"garbage"`, `15`, `"2017-01-20T10:05:00"`, `"0001-01-01T00:00:00Z"`, `"9999-12-31T23:59:59Z"`,
		`"2017-01-20 10:05:00Z"`, `"`, `"\u0032017-01-20T10:05:00Z"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tm Time
		if tm.UnmarshalJSON(b) != nil {
			return
		}
		out, err := tm.MarshalJSON()
		if err != nil {
			t.Fatalf("%s decoded to %v, which does not encode: %v", b, tm.Time, err)
		}
		var again Time
		if err := again.UnmarshalJSON(out); err != nil {
			t.Fatalf("%s decoded to %v, encoded as %s, which does not decode: %v", b, tm.Time, out, err)
		}
		if !sameTime(tm, again, time.Second) {
			t.Fatalf("%s -> %v -> %s -> %v", b, tm.Time, out, again.Time)
		}
	})
}

// sameTime reports whether a and b are the same instant at precision p
// (a second or a microsecond); the zero time is an instant too.
func sameTime(a, b Time, p time.Duration) bool {
	return a.Unix() == b.Unix() && a.Nanosecond()/int(p) == b.Nanosecond()/int(p)
}

// sameRecord compares records with their times at precision p.
func sameRecord(a, b LeaderElectionRecord, p time.Duration) bool {
	return a.HolderIdentity == b.HolderIdentity && a.LeaseDurationSeconds == b.LeaseDurationSeconds &&
		a.LeaderTransitions == b.LeaderTransitions && a.PreferredHolder == b.PreferredHolder && a.Strategy == b.Strategy &&
		sameTime(a.AcquireTime, b.AcquireTime, p) && sameTime(a.RenewTime, b.RenewTime, p)
}

// The records of issue 8 (items 11 and 12) that once stopped or broke
// elections, as annotation values.
var nastyRecords = []string{
	`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2017-01-20T10:00:00Z","renewTime":"2017-01-20T10:05:00Z","leaderTransitions":3}`,
	`{"holderIdentity":"a","leaseDurationSeconds":15`,                    // bad JSON
	`{"holderIdentity":"a","leaseDurationSeconds":15.0}`,                 // a float
	`{"holderIdentity":"a","leaseDurationSeconds":"15"}`,                 // a string
	`{"holderIdentity":"a","renewTime":"garbage"}`,                       // a garbage time
	`{"holderIdentity":"a","leaseDurationSeconds":18446744074}`,          // wraps when made a Duration
	`{"holderIdentity":"a","leaseDurationSeconds":-1}`,                   // negative
	`{"holderIdentity":"a","leaseDurationSeconds":99999999999999999999}`, // over int64
	`{"holderIdentity":null,"acquireTime":null,"renewTime":""}`,
	`{"holderIdentity":"\u00e9\ud800","leaderTransitions":-9223372036854775808}`,
	`null`, `[]`, `"x"`, ``,
}

// FuzzRecordJSON: a record that decodes encodes, and decodes again to the
// same record at second precision.
func FuzzRecordJSON(f *testing.F) {
	for _, s := range nastyRecords {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec LeaderElectionRecord
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("%s decoded to %+v, which does not encode: %v", b, rec, err)
		}
		var again LeaderElectionRecord
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%s decoded to %+v, encoded as %s, which does not decode: %v", b, rec, out, err)
		}
		if !sameRecord(rec, again, time.Second) {
			t.Fatalf("%s -> %+v -> %s -> %+v", b, rec, out, again)
		}
	})
}

// memoryServer answers a lock's GET with its object, and a PUT or POST by
// storing the body and answering with it, as an API server would.
type memoryServer struct {
	mu   sync.Mutex // guards body
	body []byte
}

func (s *memoryServer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			s.body = b
		}
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(s.body)), Request: r, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

func (s *memoryServer) stored() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.body
}

// fuzzLocks returns the three single-object locks over a server holding
// doc, with the time precision each stores.
func fuzzLocks(t *testing.T, doc []byte) (map[string]Interface, map[string]*memoryServer) {
	t.Helper()
	locks := make(map[string]Interface)
	servers := make(map[string]*memoryServer)
	for _, kind := range []string{EndpointsResourceLock, ConfigMapsResourceLock, LeasesResourceLock} {
		srv := &memoryServer{body: doc}
		c, err := k8sapi.New(k8sapi.Config{Host: "https://fuzz.invalid", BearerToken: "t", Transport: srv})
		if err != nil {
			t.Fatal(err)
		}
		l, err := New(kind, "ns", "lock", c, ResourceLockConfig{Identity: "fuzzer"})
		if err != nil {
			t.Fatal(err)
		}
		locks[kind], servers[kind] = l, srv
	}
	return locks, servers
}

// FuzzLockRecord reads the record of an arbitrary object through each
// lock: no panic; where it decodes, writing it back and reading it again
// gives the same record (seconds for annotations, microseconds for a
// Lease), and the write keeps every field of the object that is not the
// record's.
func FuzzLockRecord(f *testing.F) {
	for _, rec := range nastyRecords {
		ann, _ := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Endpoints",
			"metadata": map[string]any{
				"name": "lock", "namespace": "ns", "resourceVersion": "5",
				"annotations": map[string]string{LeaderElectionRecordAnnotationKey: rec, "other": "kept"},
				"labels":      map[string]string{"app": "x"},
			},
			"subsets": []any{map[string]any{"addresses": []any{map[string]string{"ip": "10.0.0.1"}}}},
			"data":    map[string]string{"k": "v"},
		})
		f.Add(ann)
		f.Add([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"lock","namespace":"ns","resourceVersion":"9"},"spec":` +
			leaseSpecOf(rec) + `,"status":{"x":1.50}}`))
	}
	f.Add([]byte(`{"metadata":{"name":"lock","namespace":"ns","annotations":null},"spec":null}`))
	f.Add([]byte(`{"metadata":{"name":"lock","namespace":"ns","annotations":{"control-plane.alpha.kubernetes.io/leader":""}},"spec":{}}`))
	f.Add([]byte(`{"metadata":{"name":"lock","namespace":"ns","annotations":[]},"spec":[]}`))
	f.Add([]byte(`{"metadata":{"name":"lock","namespace":"ns"},"spec":{"renewTime":"2017-01-20T10:05:00.1234567Z","acquireTime":"2017-01-20T10:05:00+14:00"}}`))
	f.Add([]byte(`{"metadata":"x","spec":"y"}`))
	f.Add([]byte(`[]`))
	// Transfer requests: the annotation, spec.preferredHolder with and
	// without a strategy, both, an empty annotation, values of other types.
	for _, meta := range []string{
		`{"name":"lock","namespace":"ns","annotations":{"` + PreferredHolderAnnotationKey + `":"b","x":"y"}}`,
		`{"name":"lock","namespace":"ns","annotations":{"` + PreferredHolderAnnotationKey + `":""}}`,
		`{"name":"lock","namespace":"ns","annotations":{"` + PreferredHolderAnnotationKey + `":7}}`,
		`{"name":"lock","namespace":"ns"}`,
	} {
		for _, spec := range []string{
			`{"holderIdentity":"a","strategy":"OldestEmulationVersion","preferredHolder":"c"}`,
			`{"holderIdentity":"a","preferredHolder":"c"}`,
			`{"holderIdentity":"a","strategy":"OldestEmulationVersion"}`,
			`{"holderIdentity":"a","strategy":5,"preferredHolder":null}`,
		} {
			f.Add([]byte(`{"metadata":` + meta + `,"spec":` + spec + `}`))
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		locks, servers := fuzzLocks(t, doc)
		ctx := context.Background()
		for kind, l := range locks {
			rec, _, err := l.Get(ctx)
			if err != nil || rec == nil {
				continue // garbage: how it is reported is the elector's business
			}
			precision := time.Second
			if kind == LeasesResourceLock {
				precision = time.Microsecond
			}
			if err := l.Update(ctx, *rec); err != nil {
				continue // an object that cannot hold a record (no name, annotations not an object)
			}
			written := servers[kind].stored()
			again, _, err := l.Get(ctx)
			if err != nil {
				t.Fatalf("%s: %+v read from %s, written as %s, does not read back: %v", kind, *rec, doc, written, err)
			}
			if !sameRecord(*rec, *again, precision) {
				t.Fatalf("%s: %+v read from %s, written as %s, read back as %+v", kind, *rec, doc, written, *again)
			}
			if diff := lostFields(t, doc, written, kind); diff != "" {
				t.Fatalf("%s: the write of %s as %s lost %s", kind, doc, written, diff)
			}
		}
	})
}

// leaseSpecOf turns an annotation record into a Lease spec as JSON, or
// passes it through when it is not an object.
func leaseSpecOf(rec string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(rec), &m) != nil || m == nil {
		if json.Valid([]byte(rec)) {
			return rec
		}
		return strconv.Quote(rec)
	}
	if v, ok := m["leaderTransitions"]; ok {
		m["leaseTransitions"] = v
		delete(m, "leaderTransitions")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// lostFields names a field of before that the write in after did not keep
// as it was: anything but the record (and apiVersion and kind, which a
// write adds when absent).
func lostFields(t *testing.T, before, after []byte, kind string) string {
	var b, a map[string]any
	dec := func(doc []byte, v *map[string]any) {
		d := json.NewDecoder(bytes.NewReader(doc))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
	}
	dec(before, &b)
	dec(after, &a)
	for k, v := range b {
		switch k {
		case "apiVersion", "kind":
			continue
		case "spec":
			if kind == LeasesResourceLock {
				if diff := lostKeys(v, a[k], "holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions", "preferredHolder"); diff != "" {
					return "spec." + diff
				}
				continue
			}
		case "metadata":
			// The annotation locks own the record's annotation; the Lease
			// lock owns the preferred holder's.
			owned := LeaderElectionRecordAnnotationKey
			if kind == LeasesResourceLock {
				owned = PreferredHolderAnnotationKey
			}
			bm, _ := v.(map[string]any)
			am, _ := a[k].(map[string]any)
			if diff := lostKeys(bm, am, "annotations"); diff != "" {
				return "metadata." + diff
			}
			if diff := lostKeys(bm["annotations"], am["annotations"], owned); diff != "" {
				return "metadata.annotations." + diff
			}
			continue
		}
		if !reflect.DeepEqual(v, a[k]) {
			return k
		}
	}
	return ""
}

// lostKeys names a key of the object before whose value after does not
// keep, other than those in owned; "" when there is none. A before that
// is not an object (null, absent) has nothing to lose.
func lostKeys(before, after any, owned ...string) string {
	bm, ok := before.(map[string]any)
	if !ok {
		return ""
	}
	am, _ := after.(map[string]any)
next:
	for k, v := range bm {
		for _, o := range owned {
			if k == o {
				continue next
			}
		}
		if !reflect.DeepEqual(v, am[k]) {
			return k
		}
	}
	return ""
}
