// Package clientgocompat holds a test that points the official client-go at the
// in-process cluster of package memcluster over TCP, proving wire compatibility.
//
// It is a separate module so that the main module never depends on client-go. It does
// not import the main module either: client-go's release pins a PD client and kvproto
// older than the main module's, and Go's minimal version selection cannot satisfy both
// in one build. Instead TestMain builds cmd/memcluster from the main module (../..) and
// each test runs it as a child process, reading its addresses from stdout and the
// requests it served (-log-requests) from stderr.
//
// Run with: cd tools/clientgo-compat && go test ./...
package clientgocompat
