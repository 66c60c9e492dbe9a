package stmt_test

import (
	"database/sql/driver"
	"fmt"

	"github.com/tikvsql/tikvsql/stmt"
)

// A statement as GORM sends it: parsed once, bound per execution, explained.
func ExampleParse() {
	st, err := stmt.Parse("SELECT * FROM `kv` WHERE `kv`.`k` >= ? AND `kv`.`k` < ? ORDER BY `kv`.`k` DESC LIMIT 10", stmt.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Kind(), st.NumInput(), st.ReturnsRows())
	fmt.Println(st)
	plan, err := st.Bind([]driver.NamedValue{{Ordinal: 1, Value: "user:"}, {Ordinal: 2, Value: "user;"}}, stmt.BindOptions{})
	if err != nil {
		panic(err)
	}
	for _, line := range plan.Explain() {
		fmt.Println(line)
	}
	// Output:
	// SELECT 2 true
	// SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k DESC LIMIT 10
	// Scan (SELECT)
	//   range: ["user:", "user;")
	//   order: descending
	//   limit: 10
	//   columns: k VARBINARY, v VARBINARY
}

// Errors name the position, what was found and what the dialect supports there.
func ExampleSyntaxError() {
	_, err := stmt.Parse("SELECT * FROM kv WHERE k = 'a' OR k = 'b'", stmt.Options{})
	fmt.Println(err)
	// Output:
	// stmt: syntax error at 1:32 (offset 31): found "OR", expected AND: OR is not supported (use k IN (...) for alternatives)
}
