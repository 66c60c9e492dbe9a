package stmt

import (
	"bufio"
	"database/sql/driver"
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/orm.golden")

// TestORMGolden parses and binds every statement of testdata/orm_corpus.txt (what sqlx,
// squirrel, goqu, GORM, bun and ent send) and compares the EXPLAIN output with
// testdata/orm.golden. Run with -update after an intended change.
func TestORMGolden(t *testing.T) {
	f, err := os.Open("testdata/orm_corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		lib, text, args := fields[0], fields[1], ""
		if len(fields) > 2 {
			args = fields[2]
		}
		st, err := Parse(text, Options{})
		if err != nil {
			t.Errorf("%s: %s: %v", lib, text, err)
			continue
		}
		p, err := st.Bind(corpusArgs(args), BindOptions{})
		if err != nil {
			t.Errorf("%s: %s: bind: %v", lib, text, err)
			continue
		}
		out.WriteString("-- " + lib + ": " + text + "\n")
		for _, l := range p.Explain() {
			out.WriteString(l + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		if err := os.WriteFile("testdata/orm.golden", []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/orm.golden")
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("EXPLAIN output differs from testdata/orm.golden (rerun with -update to accept):\n%s", out.String())
	}
}

func corpusArgs(s string) []driver.NamedValue {
	if s == "" {
		return nil
	}
	var args []driver.NamedValue
	for i, a := range strings.Split(s, ",") {
		var v any = a
		if n, err := strconv.ParseInt(strings.TrimPrefix(a, "#"), 10, 64); err == nil && strings.HasPrefix(a, "#") {
			v = n
		}
		args = append(args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return args
}
