package stmt

import (
	"database/sql/driver"
	"testing"
)

// BenchmarkParseBind measures Parse followed by Bind for the statements ORMs send most.
func BenchmarkParseBind(b *testing.B) {
	cases := []struct {
		name, text string
		args       []driver.NamedValue
	}{
		{"Get", "GET ?", []driver.NamedValue{{Ordinal: 1, Value: []byte("user:42")}}},
		{"Put", "PUT ? ?", []driver.NamedValue{{Ordinal: 1, Value: []byte("user:42")}, {Ordinal: 2, Value: []byte("value")}}},
		{"SelectPoint", "SELECT k, v FROM kv WHERE k = ?", []driver.NamedValue{{Ordinal: 1, Value: "user:42"}}},
		{"SelectRange", "SELECT `k`, `v` FROM `kv` WHERE `k` >= ? AND `k` < ? ORDER BY `k` LIMIT 10",
			[]driver.NamedValue{{Ordinal: 1, Value: "a"}, {Ordinal: 2, Value: "m"}}},
		{"GormUpsert", "INSERT INTO `kv` (`k`,`v`) VALUES (?,?) ON CONFLICT (`k`) DO UPDATE SET `v`=`excluded`.`v`",
			[]driver.NamedValue{{Ordinal: 1, Value: "a"}, {Ordinal: 2, Value: "b"}}},
		{"UpdateCAS", "UPDATE kv SET v = ? WHERE k = ? AND v = ?",
			[]driver.NamedValue{{Ordinal: 1, Value: "n"}, {Ordinal: 2, Value: "k"}, {Ordinal: 3, Value: "o"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st, err := Parse(c.text, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := st.Bind(c.args, BindOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBind measures Bind alone, the per-execution cost of a prepared statement.
func BenchmarkBind(b *testing.B) {
	st, err := Parse("SELECT k, v FROM kv WHERE k = ?", Options{})
	if err != nil {
		b.Fatal(err)
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: "user:42"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Bind(args, BindOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
