// Package conformance drives the official client-go against a running
// development cluster (make cluster) to show that the cluster behaves like
// TiKV + PD for the client paths tikvsql re-implements. Its tests read the
// PD address from TIKV_PD_ADDRS (comma-separated) and skip when it is unset.
package conformance
