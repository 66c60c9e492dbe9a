// Package memcluster is an in-process TiKV + PD: it stores data in memory with TiKV's
// Percolator MVCC rules and serves it over the real gRPC services, so client code runs
// against it unchanged. See the package documentation below for the model.
package memcluster
