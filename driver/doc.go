// Package driver is the "tikv" database/sql driver: importing it registers the driver,
// and
//
//	db, err := sql.Open("tikv", "tikv://pd1:2379,pd2:2379/myspace?txnMode=optimistic")
//	db, err := sql.Open("tikv", "memory://demo")
//
// gives a pooled *sql.DB over one shared TiKV client (PD, region cache, connections):
// every pooled connection is a light session on it, and db.Close releases it. The
// statements are the small KV dialect and SQL subset of package stmt (GET, PUT, SCAN,
// DELETE RANGE, CHECKSUM, CAS, SELECT/INSERT/UPDATE/DELETE on the virtual table kv(k, v));
// sql.Tx is a real TiKV transaction. The DSN grammar and parameters are package dsn's.
//
// memory://name runs the same code against an in-process TiKV + PD (package
// memcluster): every connector that names the same cluster in one process shares its
// data, and the cluster stops when the last connector closes. It needs no server, so
// examples and tests run anywhere.
//
// Programs that need a *tls.Config, a logger or a tracer build the connector with
// NewConnector or OpenDB from a dsn.Config. Per-transaction options go through the
// context (WithTxnOptions). RunInTx runs a function in a transaction and retries it
// on retryable errors (write conflicts), never after an undetermined commit.
//
// Session semantics, isolation levels and errors are described in package conn.
package driver
