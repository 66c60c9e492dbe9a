package stmt

// Kind names the form of a parsed statement.
type Kind uint8

// Statement forms. The native verbs come first, then transaction control, then the SQL
// subset over the virtual table.
const (
	KindGet           Kind = iota + 1 // GET k
	KindBatchGet                      // BATCH GET k, ...
	KindPut                           // PUT k v [TTL s]
	KindBatchPut                      // BATCH PUT (k, v), ... [TTL s]
	KindDelete                        // DELETE k
	KindBatchDelete                   // BATCH DELETE k, ...
	KindDeleteRange                   // DELETE RANGE start end
	KindScan                          // SCAN start end ...
	KindScanPrefix                    // SCAN PREFIX p ...
	KindChecksum                      // CHECKSUM start end
	KindCAS                           // CAS k expected new
	KindTTL                           // TTL k
	KindLock                          // LOCK k, ... [NOWAIT | WAIT d]
	KindExplain                       // EXPLAIN stmt
	KindBegin                         // BEGIN ... / START TRANSACTION ...
	KindCommit                        // COMMIT
	KindRollback                      // ROLLBACK
	KindSelect                        // SELECT ... FROM kv ...
	KindSelectConst                   // SELECT 1
	KindSelectVersion                 // SELECT version()
	KindInsert                        // INSERT / REPLACE
	KindUpdate                        // UPDATE kv SET v = x WHERE k = y [AND v = z]
	KindDeleteWhere                   // DELETE FROM kv WHERE ...
)

// String names the form as the statement spells it.
func (k Kind) String() string {
	kindNames := [...]string{
		KindGet: "GET", KindBatchGet: "BATCH GET", KindPut: "PUT", KindBatchPut: "BATCH PUT",
		KindDelete: "DELETE", KindBatchDelete: "BATCH DELETE", KindDeleteRange: "DELETE RANGE",
		KindScan: "SCAN", KindScanPrefix: "SCAN PREFIX", KindChecksum: "CHECKSUM", KindCAS: "CAS",
		KindTTL: "TTL", KindLock: "LOCK", KindExplain: "EXPLAIN", KindBegin: "BEGIN",
		KindCommit: "COMMIT", KindRollback: "ROLLBACK", KindSelect: "SELECT",
		KindSelectConst: "SELECT 1", KindSelectVersion: "SELECT version()", KindInsert: "INSERT",
		KindUpdate: "UPDATE", KindDeleteWhere: "DELETE FROM",
	}
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "unknown"
}

// exprKind classifies an operand.
type exprKind uint8

const (
	exprNone  exprKind = iota // absent (optional clause not given)
	exprBytes                 // string or hex literal
	exprInt                   // integer literal
	exprNull                  // NULL
	exprParam                 // placeholder
)

// expr is an operand: a literal or a placeholder (index into Statement.params).
type expr struct {
	kind  exprKind
	b     []byte
	n     int64
	param int
	pos   Pos

	paramText string // the placeholder as written, for String
}

// paramStyle is the placeholder style of a statement; one per statement.
type paramStyle uint8

const (
	styleNone     paramStyle = iota
	styleQuestion            // ?
	styleDollar              // $N
	styleColon               // :name
	styleAt                  // @name
)

// param is one placeholder occurrence.
type param struct {
	text    string // as written
	ordinal int    // ? : its 1-based sequence number; $N: N; named: 0
	name    string // named styles: the name without the sigil
	pos     Pos
}

// column is a column of the SQL subset.
type column uint8

const (
	colK column = iota + 1
	colV
)

// selectItem is one item of a SELECT list.
type selectItem struct {
	col   column // colK or colV; 0 for count(*)
	count bool
	alias string
}

// pair is a key and a value operand.
type pair struct{ k, v expr }

// condOp is the operator of a key condition.
type condOp uint8

const (
	condEq condOp = iota + 1
	condIn
	condLT
	condLE
	condGT
	condGE
	condBetween
	condLike
)

// cond is one conjunct of a WHERE clause on k.
type cond struct {
	op   condOp
	args []expr // one operand; two for BETWEEN; the list for IN
}

// PutMode says what a write does when the key already exists.
type PutMode uint8

// Put modes.
const (
	PutBlind       PutMode = iota // write whatever exists (PUT, REPLACE, upserts)
	PutIfAbsent                   // fail with *kv.KeyExistsError (INSERT)
	PutIgnoreExist                // skip keys that exist (INSERT IGNORE, ON CONFLICT DO NOTHING)
)

// String names the mode.
func (m PutMode) String() string {
	switch m {
	case PutIfAbsent:
		return "if-absent"
	case PutIgnoreExist:
		return "ignore-existing"
	}
	return "blind"
}

// Statement is a parsed statement: its form, operands (literals or placeholders) and
// placeholders. It is immutable after Parse and safe for concurrent use; Bind it with
// arguments to get an executable Plan.
type Statement struct {
	kind   Kind
	params []param
	style  paramStyle

	keys        []expr // GET, BATCH GET, DELETE, BATCH DELETE, TTL, LOCK, CAS (one), UPDATE (one)
	pairs       []pair // PUT, BATCH PUT, INSERT
	start, end  expr   // SCAN, DELETE RANGE, CHECKSUM
	prefix      expr   // SCAN PREFIX
	limit       expr
	offset      expr
	ttl         expr
	wait        expr // LOCK ... WAIT d
	noWait      bool
	reverse     bool
	keysOnly    bool
	expected    expr // CAS, UPDATE ... AND v = x
	value       expr // CAS new value, UPDATE's SET v
	where       []cond
	hasWhere    bool
	items       []selectItem
	putMode     PutMode
	forUpdate   bool
	pessimistic int8 // BEGIN: -1 optimistic, +1 pessimistic, 0 default
	readOnly    bool
	inner       *Statement // EXPLAIN

	// Syntax kept only so that String renders placeholders in their original order.
	table         string // the virtual table's name (Options.Table)
	valueFirst    bool   // INSERT ... (v, k)
	offsetFirst   bool   // LIMIT offset, count
	expectedFirst bool   // UPDATE ... WHERE v = x AND k = y
}

// Kind returns the statement's form.
func (s *Statement) Kind() Kind { return s.kind }

// ReturnsRows reports whether executing the statement yields rows (use Query) rather
// than a count of affected keys (use Exec).
func (s *Statement) ReturnsRows() bool {
	switch s.kind {
	case KindGet, KindBatchGet, KindScan, KindScanPrefix, KindChecksum, KindCAS, KindTTL,
		KindExplain, KindSelect, KindSelectConst, KindSelectVersion:
		return true
	}
	return false
}

// NumInput returns the number of arguments the statement takes, as driver.Stmt's
// NumInput: the count of ? placeholders, the largest N of $N placeholders, 0 without
// placeholders, and -1 for :name and @name placeholders (database/sql then skips its
// arity check and Bind checks the names).
func (s *Statement) NumInput() int {
	switch s.style {
	case styleQuestion:
		return len(s.params)
	case styleDollar:
		n := 0
		for _, p := range s.params {
			n = max(n, p.ordinal)
		}
		return n
	case styleColon, styleAt:
		return -1
	}
	return 0
}
