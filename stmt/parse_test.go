package stmt

import (
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
)

// bindStrings binds every placeholder of st to a string argument "a1", "a2", ....
func bindStrings(t *testing.T, st *Statement) *Plan {
	t.Helper()
	n := st.NumInput()
	if n < 0 {
		n = len(st.params)
	}
	args := make([]driver.NamedValue, n)
	for i := range args {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: "a" + string(rune('1'+i))}
	}
	p, err := st.Bind(args, BindOptions{})
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return p
}

// parseFormCase is a row of TestParseForms.
type parseFormCase struct {
	text     string
	kind     Kind
	numInput int
	rows     bool
}

func parseFormCases() []parseFormCase {
	return []parseFormCase{
		{"GET 'a'", KindGet, 0, true},
		{"get x'6162'", KindGet, 0, true},
		{"GET 0x6162;", KindGet, 0, true},
		{"BATCH GET 'a', 'b', ?", KindBatchGet, 1, true},
		{"PUT 'a' 'b'", KindPut, 0, false},
		{"PUT ? ? TTL 10", KindPut, 2, false},
		{"BATCH PUT ('a', 'b'), (?, ?) TTL ?", KindBatchPut, 3, false},
		{"DELETE 'a'", KindDelete, 0, false},
		{"BATCH DELETE 'a', 'b'", KindBatchDelete, 0, false},
		{"DELETE RANGE 'a' NULL", KindDeleteRange, 0, false},
		{"SCAN 'a' 'b'", KindScan, 0, true},
		{"SCAN NULL NULL LIMIT 5 REVERSE KEYS ONLY", KindScan, 0, true},
		{"scan prefix 'p' limit ? keys only", KindScanPrefix, 1, true},
		{"CHECKSUM 'a' 'z'", KindChecksum, 0, true},
		{"CAS 'k' NULL 'v'", KindCAS, 0, true},
		{"CAS $1 $2 $3", KindCAS, 3, true},
		{"TTL 'k'", KindTTL, 0, true},
		{"LOCK 'a', 'b'", KindLock, 0, false},
		{"LOCK 'a' NOWAIT", KindLock, 0, false},
		{"LOCK :k WAIT :d", KindLock, -1, false},
		{"EXPLAIN GET 'a'", KindExplain, 0, true},
		{"BEGIN", KindBegin, 0, false},
		{"BEGIN PESSIMISTIC", KindBegin, 0, false},
		{"BEGIN OPTIMISTIC READ ONLY", KindBegin, 0, false},
		{"BEGIN TRANSACTION READ WRITE", KindBegin, 0, false},
		{"START TRANSACTION READ ONLY", KindBegin, 0, false},
		{"COMMIT", KindCommit, 0, false},
		{"COMMIT WORK", KindCommit, 0, false},
		{"ROLLBACK", KindRollback, 0, false},
		{"SELECT 1", KindSelectConst, 0, true},
		{"SELECT version()", KindSelectVersion, 0, true},
		{"SELECT * FROM kv", KindSelect, 0, true},
		{"SELECT k, v FROM kv WHERE k = ?", KindSelect, 1, true},
		{"SELECT v AS value, k key_col FROM kv AS t WHERE t.k >= @lo", KindSelect, -1, true},
		{"SELECT count(*) AS n FROM kv", KindSelect, 0, true},
		{"SELECT COUNT(1) FROM kv WHERE k LIKE 'a%'", KindSelect, 0, true},
		{"SELECT k FROM kv WHERE k BETWEEN $1 AND $2 ORDER BY k DESC LIMIT 3 OFFSET 1 FOR UPDATE", KindSelect, 2, true},
		{"SELECT k FROM kv LIMIT 1, 2", KindSelect, 0, true},
		{"SELECT k FROM kv ORDER BY k ASC", KindSelect, 0, true},
		{"INSERT INTO kv (k, v) VALUES ('a', 'b'), ('c', 'd')", KindInsert, 0, false},
		{"INSERT INTO kv VALUES (?, ?)", KindInsert, 2, false},
		{"INSERT INTO kv (v, k) VALUES (?, ?)", KindInsert, 2, false},
		{"INSERT IGNORE INTO kv (k, v) VALUES (?, ?)", KindInsert, 2, false},
		{"REPLACE INTO kv (k, v) VALUES (?, ?)", KindInsert, 2, false},
		{"INSERT INTO kv (k, v) VALUES (?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v), k = VALUES(k)", KindInsert, 2, false},
		{"INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", KindInsert, 2, false},
		{"INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING", KindInsert, 2, false},
		{"UPDATE kv SET v = ? WHERE k = ?", KindUpdate, 2, false},
		{"UPDATE kv SET v = ? WHERE (v = ?) AND k = ?", KindUpdate, 3, false},
		{"DELETE FROM kv WHERE k = ?", KindDeleteWhere, 1, false},
		{"-- comment\nSELECT /* inline */ k FROM kv # trailing", KindSelect, 0, true},
	}
}

func TestParseForms(t *testing.T) {
	tests := parseFormCases()
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			st, err := Parse(tt.text, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if st.Kind() != tt.kind || st.NumInput() != tt.numInput || st.ReturnsRows() != tt.rows {
				t.Fatalf("kind %v numInput %d rows %v, want %v %d %v", st.Kind(), st.NumInput(), st.ReturnsRows(), tt.kind, tt.numInput, tt.rows)
			}
			if hasNumberParam(st) {
				return // bound in TestBind
			}
			p := bindStrings(t, st)
			if p.ReturnsRows() != tt.rows {
				t.Fatalf("plan ReturnsRows = %v", p.ReturnsRows())
			}
			if p.Kind.String() == "unknown" || p.Op.String() == "unknown" || len(p.Explain()) == 0 {
				t.Fatalf("plan %+v does not describe itself", p)
			}
		})
	}
}

// hasNumberParam reports a placeholder that needs a number or a duration.
func hasNumberParam(st *Statement) bool {
	for _, e := range []expr{st.limit, st.offset, st.ttl, st.wait} {
		if e.kind == exprParam {
			return true
		}
	}
	return false
}

// parseErrorCase is a row of TestParseErrors.
type parseErrorCase struct {
	text     string
	line     int
	col      int
	found    string // substring of Found
	expected string // substring of Expected
}

func parseErrorCases() []parseErrorCase {
	return []parseErrorCase{
		{"", 1, 1, "end of statement", "a statement"},
		{"FROB 'a'", 1, 1, "FROB", "a statement"},
		{"'a'", 1, 1, "string literal", "a statement"},
		{"GET", 1, 4, "end of statement", "a key"},
		{"GET 1", 1, 5, "1", "a key"},
		{"GET a", 1, 5, "a", "a key"},
		{"GET 'a' 'b'", 1, 9, "string literal", "end of statement"},
		{"GET 'a'; GET 'b'", 1, 10, "GET", "multi-statement"},
		{"BATCH SCAN 'a'", 1, 7, "SCAN", "GET, PUT or DELETE"},
		{"BATCH PUT 'a' 'b'", 1, 11, "string literal", "( key, value )"},
		{"BATCH PUT ('a' 'b')", 1, 16, "string literal", ", value"},
		{"BATCH PUT ('a', 'b'", 1, 20, "end of statement", ")"},
		{"PUT 'a' NULL", 1, 9, "NULL", "a value"},
		{"SCAN 'a' 'b' KEYS", 1, 18, "end of statement", "ONLY"},
		{"SCAN 'a' 'b' LIMIT 'x'", 1, 20, "string literal", "a limit"},
		{"PUT 'a' 'b' TTL 'x'", 1, 17, "string literal", "a TTL"},
		{"LOCK 'a' WAIT 5", 1, 15, "5", "wait duration"},
		{"LOCK 'a' WAIT", 1, 14, "end of statement", "wait duration"},
		{"EXPLAIN EXPLAIN GET 'a'", 1, 9, "EXPLAIN", "does not nest"},
		{"START 'x'", 1, 7, "string literal", "TRANSACTION"},
		{"BEGIN READ SOMETIMES", 1, 12, "SOMETIMES", "ONLY or WRITE"},
		{"GET 'a", 1, 5, "unterminated string", "'"},
		{"GET `a", 1, 5, "unterminated quoted identifier", "`"},
		{"SELECT `` FROM kv", 1, 8, "empty quoted identifier", "a name"},
		{"GET x'abc'", 1, 5, "hex literal", "even number"},
		{"GET x'ab", 1, 5, "unterminated hex", "'"},
		{"GET 0x", 1, 5, "0x", "hex digits"},
		{"GET 0xzz", 1, 5, "0xzz", "hex digits"},
		{"GET 12ab", 1, 5, "12a", "a number"},
		{"GET $0", 1, 5, "$0", "$1, $2"},
		{"GET $", 1, 5, "$", "$1, $2"},
		{"GET $99999", 1, 5, "$99999", "$1..$65535"},
		{"GET :", 1, 5, ":", "placeholder name"},
		{"GET 'a' /* open", 1, 9, "unterminated comment", "*/"},
		{"GET ~", 1, 5, "~", "a keyword"},
		{"SCAN NULL NULL LIMIT 99999999999999999999", 1, 22, "9999", "out of range"},
		{"BATCH GET ?, $1", 1, 14, "placeholder \"$1\" after \"?\"", "one placeholder style"},
		{"BATCH GET :a, @b", 1, 15, "@b", "one placeholder style"},
		{"SELECT\n  k FROM other", 2, 10, "other", "the table \"kv\""},
		{"SELECT k, count(*) FROM kv", 1, 20, "FROM", "count(*) alone"},
		{"SELECT count(k) FROM kv", 1, 14, "k", "count(*) or count(1)"},
		{"SELECT k AS FROM kv", 1, 13, "FROM", "an alias after AS"},
		{"SELECT x FROM kv", 1, 8, "x", "the column k or v"},
		{"SELECT other.k FROM kv", 1, 8, "other", "as a qualifier"},
		{"SELECT kv.1 FROM kv", 1, 11, "1", "the column k or v"},
		{"SELECT k kv", 1, 12, "end of statement", "FROM"},
		{"SELECT * FROM kv JOIN kv2 ON 1", 1, 18, "JOIN", "end of statement"},
		{"SELECT * FROM kv WHERE v = 'x'", 1, 24, "a condition on v", "conditions on k only"},
		{"SELECT * FROM kv WHERE k = 'a' OR k = 'b'", 1, 32, "OR", "OR is not supported"},
		{"SELECT * FROM kv WHERE NOT k = 'a'", 1, 24, "NOT", "NOT is not supported"},
		{"SELECT * FROM kv WHERE k <> 'a'", 1, 26, "<>", "IN, BETWEEN or LIKE"},
		{"SELECT * FROM kv WHERE k IS NULL", 1, 26, "IS", "IN, BETWEEN or LIKE"},
		{"SELECT * FROM kv WHERE k IN ('a' 'b')", 1, 34, "string literal", ", or )"},
		{"SELECT * FROM kv WHERE k BETWEEN 'a' OR 'b'", 1, 38, "OR", "AND in BETWEEN"},
		{"SELECT * FROM kv WHERE (k = 'a'", 1, 32, "end of statement", ") or AND"},
		{"SELECT * FROM kv WHERE " + strings.Repeat("(", 70) + "k = 'a'", 1, 88, "(", "nested parentheses"},
		{"SELECT * FROM kv ORDER BY v", 1, 27, "ORDER BY v", "ORDER BY k"},
		{"SELECT * FROM kv ORDER k", 1, 24, "k", "BY after ORDER"},
		{"SELECT * FROM kv FOR SHARE", 1, 22, "SHARE", "UPDATE after FOR"},
		{"SELECT count(*) FROM kv LIMIT 1", 1, 31, "LIMIT with count(*)", "without LIMIT"},
		{"SELECT version(", 1, 16, "end of statement", ")"},
		{"SELECT version", 1, 15, "end of statement", "( after version"},
		{"INSERT kv VALUES ('a', 'b')", 1, 8, "kv", "INTO"},
		{"INSERT INTO kv (k, k) VALUES ('a', 'b')", 1, 17, "repeated column", "(k, v)"},
		{"INSERT INTO kv (k) VALUES ('a')", 1, 18, ")", ", and the second column"},
		{"INSERT INTO kv (k, v) SELECT * FROM kv", 1, 23, "SELECT", "VALUES"},
		{"INSERT INTO kv (k, v) VALUES ('a')", 1, 34, ")", ", value"},
		{"INSERT INTO kv VALUES ('a', 'b') RETURNING k", 1, 34, "RETURNING", "end of statement"},
		{"INSERT INTO kv VALUES ('a', 'b') ON DUPLICATE KEY UPDATE v = 'x'", 1, 62, "string literal", "v = VALUES(v)"},
		{"INSERT INTO kv VALUES ('a', 'b') ON DUPLICATE KEY UPDATE v = VALUES(k)", 1, 58, "another column", "v = VALUES(v)"},
		{"INSERT INTO kv VALUES ('a', 'b') ON DUPLICATE UPDATE", 1, 47, "UPDATE", "KEY after"},
		{"INSERT INTO kv VALUES ('a', 'b') ON CONFLICT (v) DO NOTHING", 1, 47, "ON CONFLICT (v)", "ON CONFLICT (k)"},
		{"INSERT INTO kv VALUES ('a', 'b') ON CONFLICT DO UPDATE SET v = v", 1, 64, "v", "v = excluded.v"},
		{"INSERT INTO kv VALUES ('a', 'b') ON CONFLICT UPDATE", 1, 46, "UPDATE", "DO after ON CONFLICT"},
		{"INSERT INTO kv VALUES ('a', 'b') ON CONFLICT DO SOMETHING", 1, 49, "SOMETHING", "NOTHING or UPDATE"},
		{"INSERT INTO kv VALUES ('a', 'b') ON SOMETHING", 1, 37, "SOMETHING", "DUPLICATE KEY UPDATE or CONFLICT"},
		{"REPLACE INTO kv VALUES ('a', 'b') ON CONFLICT DO NOTHING", 1, 35, "ON", "end of statement"},
		{"UPDATE kv SET k = 'a' WHERE k = 'b'", 1, 15, "SET k", "keys cannot be updated"},
		{"UPDATE kv SET v = 'a', v = 'b' WHERE k = 'c'", 1, 22, ",", "only v can be set"},
		{"UPDATE kv SET v = 'a'", 1, 22, "end of statement", "WHERE k = key"},
		{"UPDATE kv SET v = 'a' WHERE k > 'b'", 1, 29, "not k = key", "UPDATE writes one key"},
		{"UPDATE kv SET v = 'a' WHERE k = 'b' AND v = 'c' AND v = 'd'", 1, 53, "second condition on v", "at most one"},
		{"UPDATE kv SET v 'a'", 1, 17, "string literal", "= value"},
		{"DELETE FROM kv", 1, 15, "end of statement", "DELETE RANGE '' NULL"},
		{"SAVEPOINT sp1", 1, 1, "SAVEPOINT", "a statement"},
		{"CREATE TABLE kv (k int)", 1, 1, "CREATE", "a statement"},
	}
}

func TestParseErrors(t *testing.T) {
	tests := parseErrorCases()
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := Parse(tt.text, Options{})
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse error = %v, want *SyntaxError", err)
			}
			if se.Pos.Line != tt.line || se.Pos.Col != tt.col || !strings.Contains(se.Found, tt.found) || !strings.Contains(se.Expected, tt.expected) {
				t.Fatalf("got %v\nwant %d:%d found ~%q expected ~%q", err, tt.line, tt.col, tt.found, tt.expected)
			}
			if !strings.Contains(err.Error(), se.Pos.String()) {
				t.Fatalf("Error() %q lacks the position", err)
			}
		})
	}
}

func TestParseTableOption(t *testing.T) {
	if _, err := Parse(`SELECT * FROM "Users" WHERE users.k = 'a'`, Options{Table: "users"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("SELECT * FROM kv", Options{Table: "users"}); err == nil {
		t.Fatal("kv accepted when the table is users")
	}
}

func TestKindString(t *testing.T) {
	if KindGet.String() != "GET" || Kind(200).String() != "unknown" || Op(200).String() != "unknown" {
		t.Fatal("names")
	}
	if PutBlind.String() != "blind" || PutIfAbsent.String() != "if-absent" || PutIgnoreExist.String() != "ignore-existing" {
		t.Fatal("put mode names")
	}
}

func TestLexerDetails(t *testing.T) {
	st, err := Parse("GET 'it''s'", Options{})
	if err != nil || string(st.keys[0].b) != "it's" {
		t.Fatalf("'' escape: %v %q", err, st.keys[0].b)
	}
	st, err = Parse("GET ''''", Options{})
	if err != nil || string(st.keys[0].b) != "'" {
		t.Fatalf("'''' = %q, %v", st.keys[0].b, err)
	}
	st, err = Parse("GET ''", Options{})
	if err != nil || st.keys[0].b == nil || len(st.keys[0].b) != 0 {
		t.Fatalf("empty literal = %#v, %v", st.keys[0].b, err)
	}
	st, err = Parse("SELECT `k``x` FROM kv", Options{})
	if err == nil {
		t.Fatalf("column k`x accepted: %v", st)
	}
	if _, err = Parse("SELECT \"k\" FROM \"kv\" WHERE \"k\" = $1", Options{}); err != nil {
		t.Fatal(err)
	}
	tok := token{kind: tokHex}
	if tok.describe() != "hex literal" {
		t.Fatal(tok.describe())
	}
	long := token{kind: tokIdent, text: strings.Repeat("x", 40)}
	if !strings.HasSuffix(long.describe(), "...\"") {
		t.Fatal(long.describe())
	}
}

func TestStringCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"get 'a'", "GET 'a'"},
		{"batch get x'00', ?", "BATCH GET x'00', ?"},
		{"put 'it''s' 0x6869 ttl 5", "PUT 'it''s' 'hi' TTL 5"},
		{"batch put ('a', 'b'), ($1, $2)", "BATCH PUT ('a', 'b'), ($1, $2)"},
		{"delete 'a'", "DELETE 'a'"},
		{"batch delete 'a', 'b'", "BATCH DELETE 'a', 'b'"},
		{"delete range 'a' null", "DELETE RANGE 'a' NULL"},
		{"scan null 'z' limit ? reverse keys only", "SCAN NULL 'z' LIMIT ? REVERSE KEYS ONLY"},
		{"scan prefix 'p'", "SCAN PREFIX 'p'"},
		{"checksum 'a' 'b'", "CHECKSUM 'a' 'b'"},
		{"cas :k null :v", "CAS :k NULL :v"},
		{"ttl 'a'", "TTL 'a'"},
		{"lock 'a', 'b' nowait", "LOCK 'a', 'b' NOWAIT"},
		{"lock 'a' wait '1s'", "LOCK 'a' WAIT '1s'"},
		{"explain get 'a'", "EXPLAIN GET 'a'"},
		{"start transaction read only", "BEGIN READ ONLY"},
		{"begin optimistic", "BEGIN OPTIMISTIC"},
		{"begin pessimistic read write", "BEGIN PESSIMISTIC"},
		{"commit work", "COMMIT"},
		{"rollback", "ROLLBACK"},
		{"select 1", "SELECT 1"},
		{"select VERSION ( )", "SELECT version()"},
		{"SELECT * FROM `kv` AS t WHERE (t.`k` >= ? AND k < ?) ORDER BY kv.k ASC LIMIT ?, ? FOR UPDATE",
			"SELECT k, v FROM kv WHERE k >= ? AND k < ? LIMIT ?, ? FOR UPDATE"},
		{`SELECT count(1) "n" FROM kv WHERE k IN ('a') AND k BETWEEN 'a' AND 'b' AND k LIKE 'a%' AND k = 'a' AND k <= 'x' AND k > ''`,
			`SELECT count(*) AS "n" FROM kv WHERE k IN ('a') AND k BETWEEN 'a' AND 'b' AND k LIKE 'a%' AND k = 'a' AND k <= 'x' AND k > ''`},
		{"SELECT v AS `a``b` FROM kv ORDER BY k DESC LIMIT 1 OFFSET 2", `SELECT v AS "a` + "`" + `b" FROM kv ORDER BY k DESC LIMIT 1 OFFSET 2`},
		{"INSERT INTO kv (v, k) VALUES (?, ?)", "INSERT INTO kv (v, k) VALUES (?, ?)"},
		{"INSERT INTO kv VALUES ('a', 'b') ON CONFLICT DO NOTHING", "INSERT IGNORE INTO kv (k, v) VALUES ('a', 'b')"},
		{"INSERT INTO kv VALUES ('a', 'b') ON DUPLICATE KEY UPDATE v = VALUES(v)", "REPLACE INTO kv (k, v) VALUES ('a', 'b')"},
		{"UPDATE kv SET v = ? WHERE v = ? AND k = ?", "UPDATE kv SET v = ? WHERE v = ? AND k = ?"},
		{"UPDATE kv SET v = ? WHERE k = ? AND v = ?", "UPDATE kv SET v = ? WHERE k = ? AND v = ?"},
		{"UPDATE kv SET v = ? WHERE k = ?", "UPDATE kv SET v = ? WHERE k = ?"},
		{"DELETE FROM kv WHERE k < 'b'", "DELETE FROM kv WHERE k < 'b'"},
	}
	for _, tt := range tests {
		st := mustParse(t, tt.in)
		if got := st.String(); got != tt.want {
			t.Fatalf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	st, err := Parse(`SELECT k FROM "my-t"`, Options{Table: "my-t"})
	if err != nil || st.String() != `SELECT k FROM "my-t"` {
		t.Fatalf("quoted table: %v %q", err, st)
	}
}
