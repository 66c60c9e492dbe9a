package stmt

import (
	"context"
	"database/sql/driver"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that its errors are typed and point into the
// text, and that whatever parses also binds (with arguments of every kind), explains and
// executes on the map executor without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"GET 'a'", "BATCH PUT ('a', 'b'), (?, ?) TTL 5", "SCAN PREFIX x'00ff' LIMIT ? REVERSE KEYS ONLY",
		"SELECT k, v FROM `kv` AS t WHERE (t.k >= $1 AND k < $2) ORDER BY k DESC LIMIT 3 OFFSET 1 FOR UPDATE",
		"INSERT INTO kv (v, k) VALUES (:v, :k) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
		"UPDATE kv SET v = @v WHERE k = @k AND v = @old", "DELETE FROM kv WHERE k LIKE 'p\\_%'",
		"EXPLAIN SELECT count(*) FROM kv WHERE k IN ('a', 'b')", "LOCK 'a' WAIT '1s'", "CAS 'k' NULL 'v'",
		"BEGIN PESSIMISTIC READ ONLY", "-- c\nSELECT 1; ", "SELECT version()", "DELETE RANGE 'a' NULL",
	} {
		f.Add(s)
	}
	if b, err := os.ReadFile("testdata/orm_corpus.txt"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if fields := strings.Split(line, "\t"); len(fields) > 1 {
				f.Add(fields[1])
			}
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		st, err := Parse(text, Options{})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T is not a *SyntaxError", text, err)
			}
			if se.Pos.Offset < 0 || se.Pos.Offset > len(text) || se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("Parse(%q): position %+v outside the text", text, se.Pos)
			}
			return
		}
		canon := st.String()
		st2, err := Parse(canon, Options{})
		if err != nil {
			t.Fatalf("Parse(String(Parse(%q))) = Parse(%q): %v", text, canon, err)
		}
		if st2.Kind() != st.Kind() || st2.NumInput() != st.NumInput() || st2.String() != canon {
			t.Fatalf("%q: canonical form %q is not stable: %q", text, canon, st2.String())
		}
		checkSameMeaning(t, st, st2)
		n := len(st.params)
		for _, v := range []any{"k", []byte{0xff}, int64(3), time.Second, nil} {
			args := make([]driver.NamedValue, n)
			for i := range args {
				args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
			}
			if st.style == styleColon || st.style == styleAt {
				args = args[:distinctNames(st)]
			}
			p, err := st.Bind(args, BindOptions{MaxScan: 3})
			if err != nil {
				continue
			}
			_ = p.Explain()
			_, _ = p.Exec(context.Background(), newMemExec("a", "1", "k", "2"))
		}
	})
}

func distinctNames(st *Statement) int {
	seen := map[string]bool{}
	for _, p := range st.params {
		seen[p.name] = true
	}
	return len(seen)
}

// checkSameMeaning binds a and b with distinct arguments and compares their plans, so
// that a canonical form that reorders placeholders is caught.
func checkSameMeaning(t *testing.T, a, b *Statement) {
	n := len(a.params)
	if a.style == styleColon || a.style == styleAt {
		n = distinctNames(a)
	}
	args := make([]driver.NamedValue, n)
	for i := range args {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: "arg" + strings.Repeat("x", i)}
	}
	pa, errA := a.Bind(args, BindOptions{})
	pb, errB := b.Bind(args, BindOptions{})
	if (errA == nil) != (errB == nil) {
		t.Fatalf("%q and %q bind differently: %v / %v", a, b, errA, errB)
	}
	if errA == nil && strings.Join(pa.Explain(), "\n") != strings.Join(pb.Explain(), "\n") {
		t.Fatalf("%q and %q plan differently:\n%s\n---\n%s", a, b, strings.Join(pa.Explain(), "\n"), strings.Join(pb.Explain(), "\n"))
	}
}
