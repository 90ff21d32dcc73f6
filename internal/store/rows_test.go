package store

import (
	"errors"
	"testing"
)

// fakeRows yields ints, then err.
type fakeRows struct {
	vals []int
	i    int
	err  error
}

func (f *fakeRows) Next() bool { f.i++; return f.i <= len(f.vals) }
func (f *fakeRows) Scan(dest ...any) error {
	*dest[0].(*int) = f.vals[f.i-1]
	return nil
}
func (f *fakeRows) Err() error { return f.err }

func TestCollectRows(t *testing.T) {
	scan := func(r Rows) (int, error) {
		var v int
		if err := r.Scan(&v); err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, errors.New("negative")
		}
		return v, nil
	}
	boom := errors.New("connection lost")
	for _, c := range []struct {
		name    string
		rows    *fakeRows
		want    []int
		wantErr string
	}{
		{"all rows in order", &fakeRows{vals: []int{3, 1, 2}}, []int{3, 1, 2}, ""},
		{"none", &fakeRows{}, nil, ""},
		{"a scan error ends it", &fakeRows{vals: []int{1, -1, 2}}, nil, "negative"},
		{"the rows' own error", &fakeRows{vals: []int{1}, err: boom}, nil, "connection lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := CollectRows(c.rows, scan)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("err = %v, want %s", err, c.wantErr)
				}
				if got != nil {
					t.Fatalf("rows %v returned with an error", got)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}
