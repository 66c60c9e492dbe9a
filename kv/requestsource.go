package kv

import "strings"

// RequestSource builds the request-source label TiKV groups its metrics by (SRC-1), in
// client-go's format: "internal_" or "external_", then Type, then ExplicitType when it is
// set and differs, joined by "_" (for example "external_Insert" or
// "internal_gc_lightning"). Pass its String to the request-source options
// (txn.WithRequestSource, the DSN's requestSource, rpc.RequestContext.RequestSource).
type RequestSource struct {
	// Internal marks requests the application issues for itself (background jobs,
	// maintenance) rather than on behalf of its users.
	Internal bool
	// Type names the kind of work, such as a statement type ("Insert", "Select").
	Type string
	// ExplicitType is a second, caller-chosen label (client-go's explicit request source
	// type, such as the tool issuing the work).
	ExplicitType string
}

// String returns the label, or "unknown" when neither type is set.
func (r RequestSource) String() string {
	if r.Type == "" && r.ExplicitType == "" {
		return "unknown"
	}
	origin := "external"
	if r.Internal {
		origin = "internal"
	}
	typ := r.Type
	if typ == "" {
		typ = "unknown"
	}
	parts := []string{origin, typ}
	if r.ExplicitType != "" && r.ExplicitType != r.Type {
		parts = append(parts, r.ExplicitType)
	}
	return strings.Join(parts, "_")
}
