package conn

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tikvsql/tikvsql/dsn"
	"github.com/tikvsql/tikvsql/kv/raw"
	"github.com/tikvsql/tikvsql/kv/txn"
	"github.com/tikvsql/tikvsql/stmt"
)

// Compile-time checks of every interface a session implements (research §1.7).
var (
	_ driver.Conn               = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.NamedValueChecker  = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
)

// RollbackTimeout bounds the cleanup of a transaction whose context was cancelled:
// Rollback and Close detach from the caller's cancellation and take at most this long.
const RollbackTimeout = 10 * time.Second

// Errors of sessions. They are returned wrapped with detail; test them with errors.Is.
var (
	// ErrTxnOpen: BEGIN or BeginTx while the session already has a transaction.
	ErrTxnOpen = errors.New("tikv: a transaction is already open in this session")
	// ErrNoTxn: a statement that needs a transaction (LOCK) ran outside one.
	ErrNoTxn = errors.New("tikv: the statement needs a transaction")
	// ErrReadOnly: a write in a read-only transaction.
	ErrReadOnly = errors.New("tikv: write in a read-only transaction")
	// ErrRawMode: a transaction or a transactional statement in raw mode.
	ErrRawMode = errors.New("tikv: transactions are not available in raw mode (mode=raw)")
	// ErrTxnMode: a raw-only statement (CHECKSUM, TTL, PUT ... TTL) in txn mode.
	ErrTxnMode = errors.New("tikv: the statement needs raw mode (mode=raw)")
	// ErrNeedsAtomic: a raw-mode statement that needs compare-and-swap (INSERT, CAS,
	// conditional UPDATE) on a client without atomic=true.
	ErrNeedsAtomic = errors.New("tikv: the statement needs atomic raw writes (atomic=true)")
	// ErrIsolation: an isolation level the driver does not provide.
	ErrIsolation = errors.New("tikv: unsupported isolation level")
	// ErrUnsupported: a feature the client does not provide (yet).
	ErrUnsupported = errors.New("tikv: unsupported")
)

// Shared is what every session of one connector shares: the client (exactly one of
// Raw and Txn), the effective configuration and the parsed-statement cache.
type Shared struct {
	cfg     *dsn.Config
	raw     *raw.Client
	txn     *txn.Client
	txnOpts []txn.TxnOption
	cache   *stmtCache
}

// NewShared returns the shared state of sessions on rawc (mode=raw) or txnc (mode=txn);
// exactly one must be non-nil and match cfg.Mode. cfg is cloned. txnOpts apply to every
// transaction and snapshot the sessions begin (the driver passes the DSN's replica read
// there). The caller keeps ownership of the client and closes it after the last session.
func NewShared(cfg *dsn.Config, rawc *raw.Client, txnc *txn.Client, txnOpts ...txn.TxnOption) (*Shared, error) {
	if (rawc == nil) == (txnc == nil) {
		return nil, errors.New("conn: exactly one of the raw and txn clients must be given")
	}
	if (cfg.Mode == dsn.ModeRaw) != (rawc != nil) {
		return nil, fmt.Errorf("conn: mode %q does not match the client given", cfg.Mode)
	}
	return &Shared{cfg: cfg.Clone(), raw: rawc, txn: txnc, txnOpts: txnOpts, cache: newStmtCache(stmtCacheSize)}, nil
}

// Conn is a session: a driver.Conn on the shared client. database/sql uses a Conn from
// one goroutine at a time.
type Conn struct {
	sh     *Shared
	ex     executor
	closed atomic.Bool
}

// NewConn returns a new session on sh.
func NewConn(sh *Shared) *Conn {
	c := &Conn{sh: sh}
	if sh.raw != nil {
		c.ex = &rawExec{sh: sh, c: sh.raw}
	} else {
		c.ex = &txnExec{sh: sh, c: sh.txn}
	}
	return c
}

// executor is what a Conn runs plans on: the stmt.Executor of its mode plus the session
// state the Conn manages.
type executor interface {
	stmt.Executor
	begin(ctx context.Context, o beginOptions) error
	inTxn() bool
	iter(ctx context.Context, req stmt.ScanRequest) (pairIter, error)
	ping(ctx context.Context) error
	close(ctx context.Context) error
}

// pairIter is a streaming scan (raw.Iterator, txn.Iterator).
type pairIter interface {
	Next() bool
	Key() []byte
	Value() []byte
	Err() error
	Close()
}

// beginOptions describe a transaction to begin.
type beginOptions struct {
	pessimistic bool
	readOnly    bool
	rc          bool // read committed (pessimistic only)
	extra       TxnOptions
}

// Prepare implements driver.Conn.
func (c *Conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext parses query once; the statement runs with its arguments later.
func (c *Conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	if c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	st, err := c.sh.parse(query)
	if err != nil {
		return nil, err
	}
	return &Stmt{c: c, st: st}, nil
}

// Close ends the session, rolling back its open transaction.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), RollbackTimeout)
	defer cancel()
	return c.ex.close(ctx)
}

// Begin implements driver.Conn.
func (c *Conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx starts a transaction. Levels: default (the DSN's isolation), snapshot and
// repeatable read are snapshot isolation; read committed is a pessimistic
// read-committed transaction; others fail with ErrIsolation. ReadOnly gives a
// snapshot that rejects writes. ctx is kept for Commit and Rollback.
func (c *Conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	o := beginOptions{readOnly: opts.ReadOnly, pessimistic: c.sh.cfg.TxnMode == dsn.TxnPessimistic}
	level := sql.IsolationLevel(opts.Isolation)
	if level == sql.LevelDefault {
		switch c.sh.cfg.Isolation {
		case dsn.IsolationReadCommitted:
			level = sql.LevelReadCommitted
		default:
			level = sql.LevelSnapshot
		}
	}
	switch level {
	case sql.LevelSnapshot, sql.LevelRepeatableRead:
	case sql.LevelReadCommitted:
		o.rc, o.pessimistic = true, true
	default:
		return nil, fmt.Errorf("%w: %s (supported: default, snapshot, repeatable read, read committed)", ErrIsolation, level)
	}
	if x, ok := txnOptionsFrom(ctx); ok {
		o.extra = x
		switch x.Mode {
		case stmt.TxnPessimistic:
			o.pessimistic = true
		case stmt.TxnOptimistic:
			if o.rc {
				return nil, fmt.Errorf("%w: read committed needs a pessimistic transaction", ErrIsolation)
			}
			o.pessimistic = false
		}
	}
	if err := c.ex.begin(ctx, o); err != nil {
		return nil, err
	}
	return &Tx{c: c, ctx: ctx}, nil
}

// CheckNamedValue implements driver.NamedValueChecker (see stmt.CheckNamedValue).
func (c *Conn) CheckNamedValue(nv *driver.NamedValue) error { return stmt.CheckNamedValue(nv) }

// ResetSession implements driver.SessionResetter: a closed session, or one with a
// transaction opened by a BEGIN statement, is not reused.
func (c *Conn) ResetSession(context.Context) error {
	if !c.IsValid() {
		return driver.ErrBadConn
	}
	return nil
}

// IsValid implements driver.Validator.
func (c *Conn) IsValid() bool { return !c.closed.Load() && !c.ex.inTxn() }

// Ping checks that PD answers with a timestamp.
func (c *Conn) Ping(ctx context.Context) error {
	if c.closed.Load() {
		return driver.ErrBadConn
	}
	return c.ex.ping(ctx)
}

// ExecContext parses (through the shared cache), binds and runs query.
func (c *Conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	st, err := c.sh.parse(query)
	if err != nil {
		return nil, err
	}
	return c.exec(ctx, st, args)
}

// QueryContext parses (through the shared cache), binds and runs query.
func (c *Conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	st, err := c.sh.parse(query)
	if err != nil {
		return nil, err
	}
	return c.query(ctx, st, args)
}

// withTimeout applies the DSN's statement timeout to a ctx without a deadline.
func (c *Conn) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d := c.sh.cfg.Timeout; d > 0 {
		if _, ok := ctx.Deadline(); !ok {
			return context.WithTimeout(ctx, d)
		}
	}
	return ctx, func() {}
}

func (c *Conn) bind(st *stmt.Statement, args []driver.NamedValue) (*stmt.Plan, error) {
	return st.Bind(args, stmt.BindOptions{MaxScan: c.sh.cfg.EffectiveMaxScan()})
}

func (c *Conn) exec(ctx context.Context, st *stmt.Statement, args []driver.NamedValue) (driver.Result, error) {
	p, err := c.bind(st, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	res, err := p.Exec(ctx, c.ex)
	if err != nil {
		return nil, err
	}
	return result(res.RowsAffected), nil
}

func (c *Conn) query(ctx context.Context, st *stmt.Statement, args []driver.NamedValue) (driver.Rows, error) {
	p, err := c.bind(st, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	if p.Op == stmt.OpScan && !p.Count && !p.ForUpdate {
		it, err := c.ex.iter(ctx, stmt.ScanRequest{Range: p.Range, Reverse: p.Reverse, KeysOnly: p.KeysOnly})
		if err != nil {
			cancel()
			return nil, err
		}
		return &Rows{cols: p.Columns, plan: p, it: it, cancel: cancel}, nil
	}
	defer cancel()
	res, err := p.Exec(ctx, c.ex)
	if err != nil {
		return nil, err
	}
	return &Rows{cols: res.Columns, data: res.Rows, cancel: func() {}}, nil
}

// result is a driver.Result: the number of keys written; -1 means unknown.
type result int64

// LastInsertId is not supported: keys are chosen by the caller.
func (r result) LastInsertId() (int64, error) {
	return 0, fmt.Errorf("%w: LastInsertId (keys are chosen by the caller)", ErrUnsupported)
}

// RowsAffected is the number of keys written or deleted. It is unknown (an error) for
// DELETE RANGE.
func (r result) RowsAffected() (int64, error) {
	if r < 0 {
		return 0, fmt.Errorf("%w: the number of keys a DELETE RANGE removed is not known", ErrUnsupported)
	}
	return int64(r), nil
}

// Tx is a driver.Tx: the session's transaction begun by BeginTx.
type Tx struct {
	c    *Conn
	ctx  context.Context
	done bool
}

// Commit commits under the context BeginTx got. An unknown outcome is
// kv.ErrUndetermined.
func (t *Tx) Commit() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	return t.c.ex.Commit(t.ctx)
}

// Rollback rolls back, detached from the cancellation of BeginTx's context (bounded
// by RollbackTimeout) so that locks are cleaned up even after a cancel.
func (t *Tx) Rollback() error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), RollbackTimeout)
	defer cancel()
	return t.c.ex.Rollback(ctx)
}

// Stmt is a prepared statement: parsed once, bound and run per call.
type Stmt struct {
	c  *Conn
	st *stmt.Statement
}

var (
	_ driver.Stmt              = (*Stmt)(nil)
	_ driver.StmtExecContext   = (*Stmt)(nil)
	_ driver.StmtQueryContext  = (*Stmt)(nil)
	_ driver.NamedValueChecker = (*Stmt)(nil)
)

// Close implements driver.Stmt; a statement holds no resources.
func (s *Stmt) Close() error { return nil }

// NumInput is the number of placeholders, or -1 with named placeholders.
func (s *Stmt) NumInput() int { return s.st.NumInput() }

// Exec implements driver.Stmt.
func (s *Stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

// Query implements driver.Stmt.
func (s *Stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

// ExecContext binds args and runs the statement.
func (s *Stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	return s.c.exec(ctx, s.st, args)
}

// QueryContext binds args and runs the statement.
func (s *Stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if s.c.closed.Load() {
		return nil, driver.ErrBadConn
	}
	return s.c.query(ctx, s.st, args)
}

// CheckNamedValue implements driver.NamedValueChecker.
func (s *Stmt) CheckNamedValue(nv *driver.NamedValue) error { return stmt.CheckNamedValue(nv) }

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}
