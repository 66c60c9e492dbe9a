package kv

import "testing"

// client-go: util/request_source_test.go TestGetRequestSource, TestBuildRequestSource.
func TestRequestSource(t *testing.T) {
	for _, tc := range []struct {
		rs   RequestSource
		want string
	}{
		{RequestSource{}, "unknown"},
		{RequestSource{Internal: true}, "unknown"},
		{RequestSource{Type: "Insert"}, "external_Insert"},
		{RequestSource{Internal: true, Type: "gc"}, "internal_gc"},
		{RequestSource{Internal: true, Type: "gc", ExplicitType: "lightning"}, "internal_gc_lightning"},
		{RequestSource{Type: "test", ExplicitType: "lightning"}, "external_test_lightning"},
		{RequestSource{Type: "Select", ExplicitType: "Select"}, "external_Select"},
		{RequestSource{ExplicitType: "br"}, "external_unknown_br"},
	} {
		if got := tc.rs.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.rs, got, tc.want)
		}
	}
}
