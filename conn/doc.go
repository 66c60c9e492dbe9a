// Package conn runs the statements of the "tikv" database/sql driver: it holds the
// sessions (driver.Conn), transactions (driver.Tx), prepared statements (driver.Stmt)
// and result rows (driver.Rows) on top of one shared client, a *raw.Client or a
// *txn.Client. The driver package builds that client and hands it to NewConn; this
// package parses statements with stmt, binds their arguments and runs the plans by
// implementing stmt.Executor on the client.
//
// # Sessions and transactions
//
// A Conn is a session. In txn mode, a statement outside a transaction runs as its own
// transaction: reads on a snapshot at a fresh timestamp, writes in a transaction that
// is committed before the statement returns and retried (with its reads) when it
// meets a write conflict, never when its commit outcome is unknown. BeginTx starts a
// real TiKV transaction: sql.LevelDefault, LevelSnapshot and LevelRepeatableRead are
// snapshot isolation; LevelReadCommitted is a pessimistic read-committed transaction
// where the client supports it; every other level is an error. A ReadOnly transaction
// is a snapshot (at now minus the DSN's staleRead when set) that rejects writes. In raw
// mode every statement is a single raw call and BeginTx is an error.
//
// BEGIN, COMMIT and ROLLBACK statements work too; a session with such a transaction
// open is not reused by the pool (ResetSession and IsValid report it), and closing it
// rolls the transaction back. Commit and Rollback run under the context BeginTx got;
// Rollback detaches from its cancellation (bounded by RollbackTimeout) so that a
// cancelled transaction still cleans up its locks.
//
// # Errors
//
// Errors are the client's typed errors (errors.Is / errors.As with the kv package:
// *kv.WriteConflictError, *kv.KeyExistsError, kv.ErrLockWaitTimeout, kv.ErrUndetermined,
// kv.ErrScanLimitExceeded, ...) and the stmt package's syntax and bind errors.
// driver.ErrBadConn is returned only when nothing can have reached TiKV: the session or
// the client was already closed. A commit whose outcome is unknown is kv.ErrUndetermined,
// so database/sql never re-executes a write that may have been applied.
//
// # Rows
//
// SCAN and SELECT over ranges stream: Rows holds an iterator that fetches one batch
// ahead, under the query's context, and stops at the statement's LIMIT or at the
// maxScan guard (kv.ErrScanLimitExceeded, never a silent truncation). Columns k and v
// are []byte (VARBINARY).
package conn
