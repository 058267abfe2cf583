package resourcelock_test

import (
	"encoding/json"
	"testing"
	"time"

	rl "github.com/kubelect/kubelect/election/resourcelock"
)

func TestTimeMarshal(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, `null`},
		{time.Date(2024, 3, 1, 12, 30, 45, 999999999, time.UTC), `"2024-03-01T12:30:45Z"`},
		{time.Date(2024, 3, 1, 14, 30, 45, 0, time.FixedZone("CEST", 2*3600)), `"2024-03-01T12:30:45Z"`},
	} {
		b, err := json.Marshal(rl.NewTime(tc.in))
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.want)
		}
	}
}

func TestTimeUnmarshal(t *testing.T) {
	base := time.Date(2024, 3, 1, 12, 30, 45, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`null`, time.Time{}},
		{`""`, time.Time{}},
		{`"2024-03-01T12:30:45Z"`, base},
		{`"2024-03-01T12:30:45.123456Z"`, base.Add(123456 * time.Microsecond)},
		{`"2024-03-01T12:30:45.123456789Z"`, base.Add(123456789)},
		{`"2024-03-01T14:30:45+02:00"`, base},
	} {
		var got rl.Time
		if err := json.Unmarshal([]byte(tc.in), &got); err != nil || !got.Equal(tc.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{`12`, `"yesterday"`, `"2024-03-01"`, `{}`, `"2024-03-01T12:30:45"`} {
		var got rl.Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, got)
		}
	}
}

// Records written by old and new writers all decode.
func TestRecordFromOldWriters(t *testing.T) {
	for _, in := range []string{
		`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2017-01-20T10:00:00Z","renewTime":"2017-01-20T10:05:00Z","leaderTransitions":3}`,
		`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2017-01-20T10:00:00.000000000Z","renewTime":"2017-01-20T10:05:00.000000Z","leaderTransitions":3}`,
		`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2017-01-20T10:00:00Z","renewTime":"2017-01-20T10:05:00Z","leaderTransitions":3,"strategy":"","preferredHolder":""}`,
	} {
		var rec rl.LeaderElectionRecord
		if err := json.Unmarshal([]byte(in), &rec); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		want := time.Date(2017, 1, 20, 10, 5, 0, 0, time.UTC)
		if rec.HolderIdentity != "a" || rec.LeaseDurationSeconds != 15 || rec.LeaderTransitions != 3 || !rec.RenewTime.Equal(want) {
			t.Errorf("%s: decoded %+v", in, rec)
		}
	}
	var rec rl.LeaderElectionRecord
	if err := json.Unmarshal([]byte(`{"holderIdentity":"","leaseDurationSeconds":1,"acquireTime":null,"renewTime":null,"leaderTransitions":0}`), &rec); err != nil || !rec.AcquireTime.IsZero() {
		t.Errorf("null times: %+v, %v", rec, err)
	}
}

func FuzzRecordUnmarshal(f *testing.F) {
	f.Add(`{"holderIdentity":"a","leaseDurationSeconds":15,"acquireTime":"2017-01-20T10:00:00Z","renewTime":null,"leaderTransitions":3}`)
	f.Add(`{"acquireTime":"2017-01-20T10:00:00.123456789+05:30"}`)
	f.Add(`{"renewTime":""}`)
	f.Fuzz(func(t *testing.T, in string) {
		var rec rl.LeaderElectionRecord
		if json.Unmarshal([]byte(in), &rec) != nil {
			return
		}
		// What decodes encodes, and decodes again to the same record at
		// second precision.
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", rec, err)
		}
		var again rl.LeaderElectionRecord
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if again.HolderIdentity != rec.HolderIdentity || !again.RenewTime.Equal(rec.RenewTime.Truncate(time.Second)) {
			t.Fatalf("round trip %+v -> %s -> %+v", rec, b, again)
		}
	})
}
