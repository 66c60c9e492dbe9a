package conn

import (
	"database/sql/driver"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/tikvsql/tikvsql/stmt"
)

func TestRowsColumnMetadata(t *testing.T) {
	r := &Rows{cols: []stmt.Column{
		{Name: "k", Type: stmt.TypeBytes},
		{Name: "n", Type: stmt.TypeInt, Nullable: true},
	}, data: [][]driver.Value{{[]byte("a"), int64(1)}}, cancel: func() {}}
	if got := r.Columns(); !reflect.DeepEqual(got, []string{"k", "n"}) {
		t.Errorf("Columns = %v", got)
	}
	if r.ColumnTypeScanType(0) != reflect.TypeOf([]byte(nil)) || r.ColumnTypeScanType(1) != reflect.TypeOf(int64(0)) {
		t.Error("scan types")
	}
	if r.ColumnTypeDatabaseTypeName(0) != "VARBINARY" || r.ColumnTypeDatabaseTypeName(1) != "BIGINT" {
		t.Error("database type names", r.ColumnTypeDatabaseTypeName(0), r.ColumnTypeDatabaseTypeName(1))
	}
	if n, ok := r.ColumnTypeNullable(1); !n || !ok {
		t.Error("nullable")
	}
	if n, ok := r.ColumnTypeLength(0); n != math.MaxInt64 || !ok {
		t.Error("length of bytes")
	}
	if _, ok := r.ColumnTypeLength(1); ok {
		t.Error("length of int")
	}
	dest := make([]driver.Value, 2)
	if err := r.Next(dest); err != nil || dest[1] != int64(1) {
		t.Fatal(err, dest)
	}
	if err := r.Next(dest); err != io.EOF {
		t.Fatal(err)
	}
	_ = r.Close()
	_ = r.Close()
	if err := r.Next(dest); err != io.EOF {
		t.Fatal("next after close:", err)
	}
}

func TestResult(t *testing.T) {
	if n, err := result(3).RowsAffected(); n != 3 || err != nil {
		t.Error(n, err)
	}
	if _, err := result(-1).RowsAffected(); err == nil {
		t.Error("unknown count")
	}
	if _, err := result(1).LastInsertId(); err == nil {
		t.Error("LastInsertId")
	}
}
