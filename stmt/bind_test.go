package stmt

import (
	"database/sql/driver"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tikvsql/tikvsql/kv"
)

func named(name string, v any) driver.NamedValue { return driver.NamedValue{Name: name, Value: v} }
func pos(i int, v any) driver.NamedValue         { return driver.NamedValue{Ordinal: i, Value: v} }

func mustParse(t *testing.T, text string) *Statement {
	t.Helper()
	st, err := Parse(text, Options{})
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return st
}

func TestBindPlaceholderStyles(t *testing.T) {
	tests := []struct {
		text string
		args []driver.NamedValue
		keys string // the plan's keys joined by ","
	}{
		{"BATCH GET ?, ?", []driver.NamedValue{pos(1, "a"), pos(2, []byte("b"))}, "a,b"},
		{"BATCH GET $2, $1, $2", []driver.NamedValue{pos(1, "a"), pos(2, kv.Key("b"))}, "b,a,b"},
		{"BATCH GET :x, :y, :x", []driver.NamedValue{named("y", "b"), named("x", "a")}, "a,b,a"},
		{"BATCH GET @x, @y, @x", []driver.NamedValue{pos(1, "a"), pos(2, "b")}, "a,b,a"},
		{"BATCH GET 'lit', x'00'", nil, "lit,\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p, err := mustParse(t, tt.text).Bind(tt.args, BindOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var ks []string
			for _, k := range p.Keys {
				ks = append(ks, string(k))
			}
			if got := strings.Join(ks, ","); got != tt.keys {
				t.Fatalf("keys = %q, want %q", got, tt.keys)
			}
		})
	}
}

func TestBindErrors(t *testing.T) {
	tests := []struct {
		text  string
		args  []driver.NamedValue
		arity bool   // errors.Is(err, ErrArgCount)
		msg   string // substring of the error
	}{
		{"GET ?", nil, true, "want 1 arguments, got 0"},
		{"GET 'a'", []driver.NamedValue{pos(1, "x")}, true, "want 0 arguments"},
		{"GET $2", []driver.NamedValue{pos(1, "x")}, true, "want 2 arguments"},
		{"GET :k", []driver.NamedValue{named("other", "x")}, true, "an argument named k"},
		{"GET :k", []driver.NamedValue{named("k", "x"), named("j", "y")}, true, "one per placeholder name"},
		{"BATCH GET :a, :b", []driver.NamedValue{pos(1, "x")}, true, "an argument named b"},
		{"GET ?", []driver.NamedValue{pos(1, int64(1))}, false, "argument 1 (?) at 1:5: want []byte or string, got int64"},
		{"GET ?", []driver.NamedValue{pos(1, nil)}, false, "not NULL"},
		{"GET ?", []driver.NamedValue{pos(1, []byte(nil))}, false, "not NULL"},
		{"GET :k", []driver.NamedValue{named("k", 1.5)}, false, "argument :k at 1:5: want []byte or string, got float64"},
		{"PUT 'a' ?", []driver.NamedValue{pos(1, true)}, false, "got bool"},
		{"SCAN 'a' NULL LIMIT ?", []driver.NamedValue{pos(1, "10")}, false, "a limit (an integer), got string"},
		{"SCAN 'a' NULL LIMIT ?", []driver.NamedValue{pos(1, int64(-1))}, false, "got -1"},
		{"SCAN 'a' NULL LIMIT ?", []driver.NamedValue{pos(1, uint64(1)<<63)}, false, "within range"},
		{"SELECT k FROM kv LIMIT 1 OFFSET ?", []driver.NamedValue{pos(1, "x")}, false, "an offset"},
		{"PUT 'a' 'b' TTL ?", []driver.NamedValue{pos(1, 1500*time.Millisecond)}, false, "got 1.5s"},
		{"PUT 'a' 'b' TTL ?", []driver.NamedValue{pos(1, int64(0))}, false, "a TTL greater than 0, got 0"},
		{"PUT 'a' 'b' TTL 0", nil, false, "literal at 1:17"},
		{"PUT 'a' 'b' TTL ?", []driver.NamedValue{pos(1, "5")}, false, "a TTL in seconds"},
		{"LOCK 'a' WAIT ?", []driver.NamedValue{pos(1, int64(5))}, false, "a time.Duration or a duration string"},
		{"LOCK 'a' WAIT 'soon'", nil, false, "a duration such as '500ms'"},
		{"LOCK 'a' WAIT ?", []driver.NamedValue{pos(1, []byte("x"))}, false, "a duration such as '500ms'"},
		{"LOCK 'a' WAIT ?", []driver.NamedValue{pos(1, -time.Second)}, false, "got -1s"},
		{"SELECT * FROM kv WHERE k LIKE 'a_%'", nil, false, `pattern "a_%"`},
		{"SELECT * FROM kv WHERE k LIKE '%a'", nil, false, "LIKE pattern"},
		{"SELECT * FROM kv WHERE k LIKE 'a\\'", nil, false, "LIKE pattern"},
		{"SELECT * FROM kv WHERE k LIKE ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"SELECT * FROM kv WHERE k = ? AND k > ?", []driver.NamedValue{pos(1, "a"), pos(2, 3)}, false, "argument 2"},
		{"SCAN ? 'b'", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"SCAN 'a' ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"SCAN PREFIX ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"CAS ? 'a' 'b'", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"CAS 'k' ? 'b'", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"CAS 'k' 'a' ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"UPDATE kv SET v = 'x' WHERE k = ? AND v = ?", []driver.NamedValue{pos(1, "k"), pos(2, nil)}, false, "not NULL"},
		{"BATCH PUT (?, 'v')", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"BATCH PUT ('k', ?)", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"LOCK ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"EXPLAIN GET ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
		{"DELETE FROM kv WHERE k = ?", []driver.NamedValue{pos(1, 3)}, false, "got int"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, err := mustParse(t, tt.text).Bind(tt.args, BindOptions{})
			var be *BindError
			if !errors.As(err, &be) {
				t.Fatalf("Bind error = %v, want *BindError", err)
			}
			if errors.Is(err, ErrArgCount) != tt.arity || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Bind error = %q (arity %v), want ~%q (arity %v)", err, errors.Is(err, ErrArgCount), tt.msg, tt.arity)
			}
		})
	}
}

func TestBindValues(t *testing.T) {
	st := mustParse(t, "SCAN ? ? LIMIT ?")
	for _, n := range []any{int(2), int8(2), int16(2), int32(2), int64(2), uint(2), uint8(2), uint16(2), uint32(2), uint64(2)} {
		p, err := st.Bind([]driver.NamedValue{pos(1, nil), pos(2, []byte(nil)), pos(3, n)}, BindOptions{})
		if err != nil || p.Limit != 2 || p.Range.Start != nil || p.Range.End != nil {
			t.Fatalf("%T: %+v %v", n, p, err)
		}
	}
	p, err := mustParse(t, "LOCK 'a' WAIT ?").Bind([]driver.NamedValue{pos(1, "250ms")}, BindOptions{})
	if err != nil || p.Wait.Timeout != 250*time.Millisecond {
		t.Fatalf("wait string: %+v %v", p, err)
	}
	p, err = mustParse(t, "LOCK 'a' WAIT ?").Bind([]driver.NamedValue{pos(1, time.Second)}, BindOptions{})
	if err != nil || p.Wait.Timeout != time.Second {
		t.Fatalf("wait duration: %+v %v", p, err)
	}
	p, err = mustParse(t, "PUT 'a' 'b' TTL ?").Bind([]driver.NamedValue{pos(1, 2*time.Minute)}, BindOptions{})
	if err != nil || p.TTL != 2*time.Minute {
		t.Fatalf("ttl duration: %+v %v", p, err)
	}
	p, err = mustParse(t, "CAS 'k' ? 'v'").Bind([]driver.NamedValue{pos(1, nil)}, BindOptions{})
	if err != nil || !p.ExpectAbsent {
		t.Fatalf("CAS NULL argument: %+v %v", p, err)
	}
	p, err = mustParse(t, "GET ?").Bind([]driver.NamedValue{pos(1, []byte{})}, BindOptions{})
	if err != nil || p.Keys[0] == nil {
		t.Fatalf("empty non-nil key: %+v %v", p, err)
	}
	p, err = mustParse(t, "SELECT k FROM kv").Bind(nil, BindOptions{})
	if err != nil || p.Limit != DefaultMaxScan || !p.LimitIsGuard {
		t.Fatalf("default maxScan: %+v %v", p, err)
	}
}

func TestBindBegin(t *testing.T) {
	for text, want := range map[string]TxnOptions{
		"BEGIN":                       {},
		"BEGIN OPTIMISTIC":            {Mode: TxnOptimistic},
		"BEGIN PESSIMISTIC READ ONLY": {Mode: TxnPessimistic, ReadOnly: true},
		"START TRANSACTION READ ONLY": {ReadOnly: true},
	} {
		p, err := mustParse(t, text).Bind(nil, BindOptions{})
		if err != nil || p.Txn != want || p.Op != OpBegin {
			t.Fatalf("%s: %+v %v", text, p.Txn, err)
		}
		if !strings.Contains(strings.Join(p.Explain(), "\n"), "mode: "+txnModeName(want.Mode)) {
			t.Fatalf("%s: explain %v", text, p.Explain())
		}
	}
}

func TestKeySetNormalization(t *testing.T) {
	tests := []struct {
		where string
		want  string // EXPLAIN's second line
	}{
		{"k = 'a'", `  keys: "a"`},
		{"k IN ('b', 'a', 'b')", `  keys: "a", "b"`},
		{"k >= 'a'", `  range: ["a", +inf)`},
		{"k > 'a'", `  range: [0x6100, +inf)`},
		{"k < 'b'", `  range: ["", "b")`},
		{"k <= 'b'", `  range: ["", 0x6200)`},
		{"k BETWEEN 'a' AND 'b'", `  range: ["a", 0x6200)`},
		{"k LIKE 'ab%'", `  range: ["ab", "ac")`},
		{"k LIKE 'a\\%b%%'", `  range: ["a%b", "a%c")`},
		{"k LIKE 'exact'", `  keys: "exact"`},
		{"k LIKE x'ff25'", `  range: [0xff, +inf)`},
		{"k >= 'a' AND k < 'c' AND k > 'b'", `  range: [0x6200, "c")`},
		{"(k >= 'a') AND (k IN ('a', 'c', 'z')) AND k < 'd'", `  keys: "a", "c"`},
		{"k < 'a' AND k > 'c'", `  reason: the predicate selects no key, or LIMIT is 0`},
		{"k IN ('a') AND k IN ('b')", `  reason: the predicate selects no key, or LIMIT is 0`},
		{"k IN ('a') AND k > 'a'", `  reason: the predicate selects no key, or LIMIT is 0`},
		{"k > 'a' AND k < 'a\\0'", `  range: [0x6100, "a\\0")`},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			p, err := mustParse(t, "SELECT * FROM kv WHERE "+tt.where).Bind(nil, BindOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Explain()[1]; got != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestExplainLines(t *testing.T) {
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = "'k" + string(rune('0'+i)) + "'"
	}
	tests := []struct {
		text string
		line string
	}{
		{"BATCH GET " + strings.Join(keys, ", "), `, ... (10 keys)`},
		{"BATCH PUT ('a', 'b'), ('c', 'd') TTL 3", "ttl: 3s"},
		{"SCAN 'a' 'b' LIMIT 2", "limit: 2"},
		{"SELECT k FROM kv WHERE k > 'a' LIMIT 2 OFFSET 3 FOR UPDATE", "offset: 3"},
		{"SELECT k FROM kv WHERE k > 'a' FOR UPDATE", "for update: lock the keys read"},
		{"UPDATE kv SET v = 'x' WHERE k = 'a'", "only if the key exists"},
		{"UPDATE kv SET v = 'x' WHERE k = 'a' AND v = 'yy'", "expected value: 2 bytes"},
		{"LOCK 'a'", "wait: session default"},
		{"LOCK 'a' NOWAIT", "wait: nowait"},
		{"CHECKSUM 'a' NULL", "columns: crc64_xor BIGINT, total_kvs BIGINT, total_bytes BIGINT"},
		{"TTL 'a'", "columns: k VARBINARY, ttl BIGINT"},
		{"SELECT count(*) FROM kv", "aggregate: count(*)"},
	}
	for _, tt := range tests {
		p, err := mustParse(t, tt.text).Bind(nil, BindOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tt.text, err)
		}
		if all := strings.Join(p.Explain(), "\n"); !strings.Contains(all, tt.line) {
			t.Fatalf("%s: EXPLAIN lacks %q:\n%s", tt.text, tt.line, all)
		}
	}
}

func TestColumnTypes(t *testing.T) {
	for ct, want := range map[ColumnType][2]string{
		TypeBytes: {"VARBINARY", "[]uint8"}, TypeInt: {"BIGINT", "int64"},
		TypeBool: {"BOOLEAN", "bool"}, TypeText: {"VARCHAR", "string"},
	} {
		if ct.DatabaseTypeName() != want[0] || ct.ScanType().String() != want[1] {
			t.Fatalf("%d: %s %s", ct, ct.DatabaseTypeName(), ct.ScanType())
		}
	}
}

func TestErrorStrings(t *testing.T) {
	be := &BindError{Param: "$1", Ordinal: 1, Pos: Pos{Line: 1, Col: 3}, Want: "x", Got: "y"}
	if be.Error() != "stmt: argument $1 at 1:3: want x, got y" || be.Unwrap() != nil {
		t.Fatal(be.Error())
	}
}

func TestCheckNamedValue(t *testing.T) {
	for _, v := range []any{nil, []byte("a"), kv.Key("a"), "a", time.Second, 1, int8(1), uint64(1)} {
		if err := CheckNamedValue(&driver.NamedValue{Value: v}); err != nil {
			t.Fatalf("%T rejected: %v", v, err)
		}
	}
	for _, v := range []any{1.5, true, time.Now()} {
		if err := CheckNamedValue(&driver.NamedValue{Value: v}); !errors.Is(err, driver.ErrSkip) {
			t.Fatalf("%T: %v, want ErrSkip", v, err)
		}
	}
}

// TestConcurrentBind binds and runs one parsed statement from several goroutines; run
// with -race it checks that Bind and Exec never write to the shared Statement.
func TestConcurrentBind(t *testing.T) {
	st := mustParse(t, "SELECT k, v FROM kv WHERE k IN ('c', 'a', ?) ORDER BY k DESC")
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func() {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				var p *Plan
				p, err = st.Bind([]driver.NamedValue{{Ordinal: 1, Value: "b"}}, BindOptions{})
				if err == nil && (len(p.Keys) != 3 || string(p.Keys[0]) != "c") {
					err = errors.New("wrong plan")
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
