package stmt

import (
	"reflect"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

// Op is the KV operation a bound Plan performs.
type Op uint8

// Plan operations.
const (
	OpNone        Op = iota // nothing to read or write: the predicate is contradictory or LIMIT is 0
	OpGet                   // point reads of Keys
	OpScan                  // a range read of Range
	OpPut                   // writes of Pairs with PutMode and TTL
	OpUpdate                // write Value to Keys[0] only if the key exists
	OpCAS                   // compare-and-swap Keys[0] from Expected (or absent) to Value
	OpDelete                // point deletes of Keys
	OpDeleteRange           // delete every key of Range
	OpChecksum              // checksum of Range (raw mode)
	OpTTL                   // the TTL of Keys[0] (raw mode)
	OpLock                  // pessimistic locks on Keys with Wait
	OpBegin                 // begin a transaction with Txn options
	OpCommit                // commit the session's transaction
	OpRollback              // roll back the session's transaction
	OpConst                 // SELECT 1
	OpVersion               // SELECT version()
	OpExplain               // render Inner as text rows
)

// String names the operation as EXPLAIN prints it.
func (o Op) String() string {
	names := [...]string{OpNone: "Nothing", OpGet: "BatchGet", OpScan: "Scan", OpPut: "Put",
		OpUpdate: "UpdateIfExists", OpCAS: "CompareAndSwap", OpDelete: "Delete",
		OpDeleteRange: "DeleteRange", OpChecksum: "Checksum", OpTTL: "GetTTL", OpLock: "LockKeys",
		OpBegin: "Begin", OpCommit: "Commit", OpRollback: "Rollback", OpConst: "Const",
		OpVersion: "Version", OpExplain: "Explain"}
	if int(o) < len(names) {
		return names[o]
	}
	return "unknown"
}

// LockWait is the wait policy of a LOCK statement. The zero value uses the session's
// policy (the DSN's lockWaitTimeout).
type LockWait struct {
	NoWait  bool          // fail at once if a key is locked (kv.ErrLockNoWait)
	Timeout time.Duration // wait at most this long (kv.ErrLockWaitTimeout); 0 = session default
}

// TxnMode is the concurrency control a BEGIN asks for.
type TxnMode int8

// Transaction modes of BEGIN.
const (
	TxnDefault     TxnMode = iota // the DSN's txnMode
	TxnOptimistic                 // BEGIN OPTIMISTIC
	TxnPessimistic                // BEGIN PESSIMISTIC
)

// TxnOptions are the options of a BEGIN or START TRANSACTION.
type TxnOptions struct {
	Mode     TxnMode
	ReadOnly bool // READ ONLY: a snapshot read, no locks, writes fail
}

// ColumnType is the SQL type of a result column.
type ColumnType uint8

// Column types and the Go types their values have.
const (
	TypeBytes ColumnType = iota + 1 // VARBINARY, []byte
	TypeInt                         // BIGINT, int64
	TypeBool                        // BOOLEAN, bool
	TypeText                        // VARCHAR, string
)

// DatabaseTypeName returns the type's SQL name, for
// driver.RowsColumnTypeDatabaseTypeName.
func (t ColumnType) DatabaseTypeName() string {
	switch t {
	case TypeBytes:
		return "VARBINARY"
	case TypeInt:
		return "BIGINT"
	case TypeBool:
		return "BOOLEAN"
	}
	return "VARCHAR"
}

// ScanType returns the Go type of the column's values, for
// driver.RowsColumnTypeScanType.
func (t ColumnType) ScanType() reflect.Type {
	switch t {
	case TypeBytes:
		return reflect.TypeFor[[]byte]()
	case TypeInt:
		return reflect.TypeFor[int64]()
	case TypeBool:
		return reflect.TypeFor[bool]()
	}
	return reflect.TypeFor[string]()
}

// source says where a column's values come from.
type source uint8

const (
	srcKey source = iota + 1
	srcValue
	srcCount
	srcSwapped
	srcPrevious
	srcTTL
	srcConst
	srcVersion
	srcPlan
	srcCRC
	srcTotalKVs
	srcTotalBytes
)

// Column is a result column.
type Column struct {
	Name     string
	Type     ColumnType
	Nullable bool // values may be nil
	src      source
}

// Plan is a bound statement: concrete keys, values, ranges and limits, ready to run on
// an Executor. A Plan is immutable and safe for concurrent use; Exec may run it many
// times. Slices in a Plan must not be modified.
type Plan struct {
	Kind Kind // the statement's form
	Op   Op

	Keys  []kv.Key      // OpGet (result order), OpDelete, OpLock; OpUpdate, OpCAS, OpTTL: one key
	Pairs []kv.KeyValue // OpPut, in statement order, duplicates resolved per PutMode
	Range kv.KeyRange   // OpScan, OpDeleteRange, OpChecksum

	// Limit caps the rows returned (0: no cap). Offset rows are skipped first. With
	// LimitIsGuard the cap is the implicit maxScan of a statement without LIMIT, and a
	// read that finds more rows fails with kv.ErrScanLimitExceeded instead of truncating.
	Limit        int
	Offset       int
	LimitIsGuard bool
	Reverse      bool // descending key order (SCAN ... REVERSE, ORDER BY k DESC)
	KeysOnly     bool // values are not needed (KEYS ONLY, SELECT k, count(*))
	ForUpdate    bool // SELECT ... FOR UPDATE: lock what is read in a pessimistic txn
	Count        bool // the result is one row holding the number of keys found

	PutMode PutMode
	TTL     time.Duration // OpPut: 0 = no TTL (raw mode only)

	Expected     []byte // OpCAS: the value expected
	ExpectAbsent bool   // OpCAS: expect the key to be absent (NULL)
	Value        []byte // OpUpdate, OpCAS: the new value

	Wait LockWait   // OpLock
	Txn  TxnOptions // OpBegin

	Columns []Column // result columns; empty for statements that return no rows
	Inner   *Plan    // OpExplain: the plan explained
}

// ReturnsRows reports whether Exec yields rows (Query) rather than a count (Exec).
func (p *Plan) ReturnsRows() bool { return len(p.Columns) > 0 }

// scanLimit is the number of rows to ask a scan or batch read for: offset plus limit,
// plus one to detect a guard overflow; 0 means unlimited.
func (p *Plan) scanLimit() int {
	if p.Limit == 0 {
		return 0
	}
	n := p.Offset + p.Limit
	if p.LimitIsGuard {
		n++
	}
	return n
}
