// Package tests holds end-to-end suites of the client layers and the driver. Each
// suite runs on a fresh in-process cluster (memcluster) in `make test` and, when
// TIKV_PD_ADDRS is set (`make integration`), on the local cluster too. Suites that
// change the topology (splits, leader moves, store outages) run only in process,
// where the test owns the cluster.
package tests
