// Package pbtest helps the tests of the binary record codecs (meta/pb).
package pbtest

import (
	"reflect"
	"testing"
	"time"
)

// AllSet fails t for every field of v (a struct, recursively through
// pointers, structs and the first element of slices) left at its zero
// value. A round-trip test of a codec fills every field of a record and
// calls AllSet first: a field added to the record later then fails the
// test until the test sets it, and the codec writes it.
func AllSet(t testing.TB, name string, v any) {
	t.Helper()
	allSet(t, name, reflect.ValueOf(v))
}

func allSet(t testing.TB, path string, v reflect.Value) {
	t.Helper()
	if v.IsZero() {
		t.Errorf("%s is zero in the test record: set it (and encode it)", path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		allSet(t, path, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range v.NumField() {
			allSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			allSet(t, path+"[0]", v.Index(0))
		}
	}
}
