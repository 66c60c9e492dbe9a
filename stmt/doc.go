// Package stmt is the statement language of the "tikv" database/sql driver: a
// hand-written lexer and recursive-descent parser for a small KV dialect plus the narrow
// SQL subset that sqlx, squirrel and GORM-style tools emit, the binding of arguments, the
// compilation into KV plans, and EXPLAIN. It imports only kv; the conn package runs plans
// by implementing [Executor], so this package never touches a client.
//
// # Model
//
// A statement travels three stages:
//
//  1. [Parse] turns text into a [Statement]: its [Kind], its operands (literals or
//     placeholders) and its placeholders. Statements are immutable and safe to share; a
//     driver caches them by text. [Statement.NumInput] is driver.Stmt's NumInput.
//  2. [Statement.Bind] binds arguments and compiles a [Plan]: concrete keys, values and
//     ranges, the KV operation ([Op]) and the result columns. The WHERE clause is
//     normalized here, because placeholders carry the keys: conjuncts on k intersect into
//     a sorted list of distinct point keys or one half-open [kv.KeyRange]. k = x and
//     k IN (...) give points; k > x gives [x.Next(), +inf); k <= x gives [-inf, x.Next());
//     k BETWEEN x AND y gives [x, y.Next()); k LIKE 'p%' gives [kv.PrefixRange](p). A
//     contradictory predicate gives an empty plan (OpNone), not an error.
//  3. [Plan.Exec] runs the plan on an [Executor] and returns a [Result]: rows, or the
//     number of keys affected. [Plan.Explain] renders the plan as text; the EXPLAIN
//     statement returns those lines as rows of one column, plan.
//
// Keys and values are bytes (columns k and v are VARBINARY). Arguments for them may be
// []byte, kv.Key or string; integers are accepted only where a number is expected (LIMIT,
// OFFSET, TTL seconds), and a time.Duration where a duration fits (TTL, LOCK ... WAIT).
// Integer literals in key or value positions are rejected: quote them.
//
// # Grammar
//
// Keywords are case-insensitive. Identifiers may be bare, `backticked` or "double
// quoted" (never a string). Comments are -- ..., # ... and /* ... */. One statement per
// string; a trailing ; is allowed.
//
//	statement   = native | txn | select | insert | update | delete_from | "EXPLAIN" statement .
//	native      = "GET" key
//	            | "BATCH" "GET" key { "," key }
//	            | "PUT" key value [ ttl ]
//	            | "BATCH" "PUT" pair { "," pair } [ ttl ]
//	            | "DELETE" key
//	            | "BATCH" "DELETE" key { "," key }
//	            | "DELETE" "RANGE" bound bound
//	            | "SCAN" bound bound scanopts
//	            | "SCAN" "PREFIX" key scanopts
//	            | "CHECKSUM" bound bound
//	            | "CAS" key ( value | "NULL" ) value
//	            | "TTL" key
//	            | "LOCK" key { "," key } [ "NOWAIT" | "WAIT" duration ] .
//	pair        = "(" key "," value ")" .
//	ttl         = "TTL" number .                         (* seconds *)
//	bound       = key | "NULL" .                         (* NULL: -inf as start, +inf as end *)
//	scanopts    = [ "LIMIT" number ] [ "REVERSE" ] [ "KEYS" "ONLY" ] .
//	txn         = "BEGIN" [ "TRANSACTION" ] [ "OPTIMISTIC" | "PESSIMISTIC" ] [ access ]
//	            | "START" "TRANSACTION" [ access ]
//	            | "COMMIT" [ "WORK" ] | "ROLLBACK" [ "WORK" ] .
//	access      = "READ" ( "ONLY" | "WRITE" ) .
//	select      = "SELECT" "1" | "SELECT" "version" "(" ")"
//	            | "SELECT" items "FROM" table [ [ "AS" ] alias ] [ where ]
//	              [ "ORDER" "BY" col_k [ "ASC" | "DESC" ] ]
//	              [ "LIMIT" number [ "OFFSET" number ] | "LIMIT" number "," number ]
//	              [ "FOR" "UPDATE" ] .
//	items       = "*" | item { "," item } .
//	item        = ( column | "count" "(" ( "*" | "1" ) ")" ) [ [ "AS" ] ident ] .
//	where       = "WHERE" cond { "AND" cond } .
//	cond        = "(" cond { "AND" cond } ")"
//	            | col_k ( "=" | "<" | "<=" | ">" | ">=" ) key
//	            | col_k "IN" "(" key { "," key } ")"
//	            | col_k "BETWEEN" key "AND" key
//	            | col_k "LIKE" key .                     (* 'prefix%'; \ escapes % and _ *)
//	insert      = ( "INSERT" [ "IGNORE" ] | "REPLACE" ) "INTO" table [ "(" column "," column ")" ]
//	              "VALUES" "(" key "," value ")" { "," "(" key "," value ")" } [ upsert ] .
//	upsert      = "ON" "DUPLICATE" "KEY" "UPDATE" column "=" "VALUES" "(" column ")" { "," ... }
//	            | "ON" "CONFLICT" [ "(" col_k ")" ] "DO" "NOTHING"
//	            | "ON" "CONFLICT" [ "(" col_k ")" ] "DO" "UPDATE" "SET" column "=" "excluded" "." column { "," ... } .
//	update      = "UPDATE" table "SET" col_v "=" value "WHERE" col_k "=" key [ "AND" col_v "=" value ] .
//	delete_from = "DELETE" "FROM" table where .
//	column      = [ ( table | alias ) "." ] ( "k" | "v" ) .
//	key, value  = string | hex | placeholder .
//	number      = integer | placeholder .
//	duration    = string | placeholder .                 (* '500ms', or a time.Duration *)
//	string      = "'" { char | "''" } "'" .
//	hex         = "x'" { hexdigit hexdigit } "'" | "0x" hexdigit hexdigit { hexdigit hexdigit } .
//	placeholder = "?" | "$" digit { digit } | ":" ident | "@" ident .
//
// The table is "kv" unless [Options].Table (the DSN's table parameter) says otherwise. In
// UPDATE the conditions may come in either order and may be parenthesized.
//
// # Placeholders
//
// One style per statement; mixing styles is a *[SyntaxError]. ? binds by position, $N to
// the Nth argument (NumInput is the largest N), :name and @name by driver.NamedValue.Name
// (NumInput is -1, so database/sql leaves the arity check to Bind; unnamed arguments
// bind to names in order of first appearance).
//
// # Meaning of the SQL subset
//
//	statement                                   plan
//	SELECT ... WHERE k = x / k IN (...)          OpGet of the sorted distinct keys (DESC: reversed)
//	SELECT ... WHERE range / LIKE 'p%' / none    OpScan of the range
//	SELECT count(*) ...                          the same read, keys only, counted
//	INSERT                                       OpPut, PutIfAbsent: *kv.KeyExistsError if a key exists
//	INSERT IGNORE, ON CONFLICT DO NOTHING        OpPut, PutIgnoreExist
//	REPLACE, ON DUPLICATE KEY UPDATE,
//	ON CONFLICT DO UPDATE SET v = excluded.v     OpPut, PutBlind (an upsert)
//	UPDATE kv SET v = x WHERE k = y              OpUpdate: write only if the key exists
//	UPDATE ... AND v = z                         OpCAS: compare-and-swap; RowsAffected 1 if swapped
//	DELETE FROM kv WHERE points / range          OpDelete / OpDeleteRange (RowsAffected -1: unknown)
//
// # Results
//
//	GET, BATCH GET, SCAN, SELECT    rows (k, v) or the selected columns, VARBINARY; absent keys give no row
//	SELECT count(*)                 one row (count(*) BIGINT)
//	CAS                             one row (swapped BOOLEAN, previous VARBINARY or NULL when absent)
//	TTL                             one row (k, ttl BIGINT seconds rounded up, NULL without a TTL); no row if absent
//	CHECKSUM                        one row (crc64_xor, total_kvs, total_bytes BIGINT; the CRC is the uint64 bit pattern)
//	SELECT 1, SELECT version()      one row (1 BIGINT) or (version() VARCHAR)
//	EXPLAIN                         one row per line (plan VARCHAR)
//	writes, LOCK, BEGIN, ...        no rows; RowsAffected = keys written, deleted or locked
//	                                (-1 for DELETE RANGE and range deletes: unknown)
//
// A read without LIMIT is capped by [BindOptions].MaxScan (the DSN's maxScan) and fails
// with kv.ErrScanLimitExceeded beyond it rather than truncating silently. ORDER BY
// accepts k only. RETURNING is not supported (no statement returns rows after a write;
// our own GORM dialector does not need it). JOINs, subqueries, OR, NOT, expressions over v,
// functions other than count(*) and version(), DDL, SAVEPOINT and SET are rejected with a
// *[SyntaxError] naming the position (line:col and byte offset), what was found and what
// is supported there.
package stmt
