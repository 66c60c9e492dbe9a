package stmt

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// String renders the statement in canonical form: keywords in upper case, bare column
// names, literals as 'text' (printable ASCII) or x'hex', placeholders as written and in
// their original order, no comments, and the native spelling of equivalent SQL forms
// where one exists (REPLACE INTO for every blind insert, INSERT IGNORE for every
// ignore-existing insert, BEGIN for START TRANSACTION). Parsing the result gives a
// statement with the same meaning whose String is the same text.
func (s *Statement) String() string {
	var w strings.Builder
	s.format(&w)
	return w.String()
}

func (s *Statement) format(w *strings.Builder) {
	switch s.kind {
	case KindGet, KindBatchGet, KindDelete, KindBatchDelete, KindTTL, KindLock:
		w.WriteString(s.kind.String() + " ")
		writeList(w, s.keys)
		s.formatLock(w)
	case KindPut:
		w.WriteString("PUT ")
		writeExprs(w, s.pairs[0].k, s.pairs[0].v)
		s.formatTTL(w)
	case KindBatchPut:
		w.WriteString("BATCH PUT ")
		s.formatPairs(w)
		s.formatTTL(w)
	case KindDeleteRange, KindChecksum, KindScan:
		w.WriteString(s.kind.String() + " ")
		writeExprs(w, s.start, s.end)
		s.formatScanOpts(w)
	case KindScanPrefix:
		w.WriteString("SCAN PREFIX ")
		writeExpr(w, s.prefix)
		s.formatScanOpts(w)
	case KindCAS:
		w.WriteString("CAS ")
		writeExprs(w, s.keys[0], s.expected, s.value)
	case KindExplain:
		w.WriteString("EXPLAIN ")
		s.inner.format(w)
	default:
		s.formatOther(w)
	}
}

func (s *Statement) formatOther(w *strings.Builder) {
	switch s.kind {
	case KindBegin:
		w.WriteString("BEGIN")
		if s.pessimistic < 0 {
			w.WriteString(" OPTIMISTIC")
		} else if s.pessimistic > 0 {
			w.WriteString(" PESSIMISTIC")
		}
		if s.readOnly {
			w.WriteString(" READ ONLY")
		}
	case KindCommit, KindRollback, KindSelectConst, KindSelectVersion:
		w.WriteString(s.kind.String())
	case KindSelect:
		s.formatSelect(w)
	case KindInsert:
		s.formatInsert(w)
	case KindUpdate:
		w.WriteString("UPDATE " + s.tableName() + " SET v = ")
		writeExpr(w, s.value)
		w.WriteString(" WHERE ")
		cas := func() {
			if s.expected.kind != exprNone {
				w.WriteString("v = ")
				writeExpr(w, s.expected)
			}
		}
		if s.expectedFirst {
			cas()
			w.WriteString(" AND ")
		}
		w.WriteString("k = ")
		writeExpr(w, s.keys[0])
		if !s.expectedFirst && s.expected.kind != exprNone {
			w.WriteString(" AND ")
			cas()
		}
	case KindDeleteWhere:
		w.WriteString("DELETE FROM " + s.tableName())
		s.formatWhere(w)
	}
}

func (s *Statement) formatLock(w *strings.Builder) {
	switch {
	case s.noWait:
		w.WriteString(" NOWAIT")
	case s.wait.kind != exprNone:
		w.WriteString(" WAIT ")
		writeExpr(w, s.wait)
	}
}

func (s *Statement) formatTTL(w *strings.Builder) {
	if s.ttl.kind != exprNone {
		w.WriteString(" TTL ")
		writeExpr(w, s.ttl)
	}
}

func (s *Statement) formatPairs(w *strings.Builder) {
	for i, pr := range s.pairs {
		if i > 0 {
			w.WriteString(", ")
		}
		w.WriteByte('(')
		if s.valueFirst {
			writeExpr(w, pr.v)
			w.WriteString(", ")
			writeExpr(w, pr.k)
		} else {
			writeExpr(w, pr.k)
			w.WriteString(", ")
			writeExpr(w, pr.v)
		}
		w.WriteByte(')')
	}
}

func (s *Statement) formatScanOpts(w *strings.Builder) {
	if s.limit.kind != exprNone {
		w.WriteString(" LIMIT ")
		writeExpr(w, s.limit)
	}
	if s.reverse {
		w.WriteString(" REVERSE")
	}
	if s.keysOnly {
		w.WriteString(" KEYS ONLY")
	}
}

func (s *Statement) formatSelect(w *strings.Builder) {
	w.WriteString("SELECT ")
	for i, it := range s.items {
		if i > 0 {
			w.WriteString(", ")
		}
		switch {
		case it.count:
			w.WriteString("count(*)")
		case it.col == colK:
			w.WriteString("k")
		default:
			w.WriteString("v")
		}
		if it.alias != "" {
			w.WriteString(" AS " + quoteIdent(it.alias))
		}
	}
	w.WriteString(" FROM " + s.tableName())
	s.formatWhere(w)
	if s.reverse {
		w.WriteString(" ORDER BY k DESC")
	}
	if s.limit.kind != exprNone {
		w.WriteString(" LIMIT ")
		if s.offsetFirst {
			writeExprs(w, s.offset)
			w.WriteString(", ")
		}
		writeExpr(w, s.limit)
		if !s.offsetFirst && s.offset.kind != exprNone {
			w.WriteString(" OFFSET ")
			writeExpr(w, s.offset)
		}
	}
	if s.forUpdate {
		w.WriteString(" FOR UPDATE")
	}
}

func (s *Statement) formatWhere(w *strings.Builder) {
	for i, c := range s.where {
		if i == 0 {
			w.WriteString(" WHERE k ")
		} else {
			w.WriteString(" AND k ")
		}
		switch c.op {
		case condIn:
			w.WriteString("IN (")
			writeList(w, c.args)
			w.WriteByte(')')
		case condBetween:
			w.WriteString("BETWEEN ")
			writeExpr(w, c.args[0])
			w.WriteString(" AND ")
			writeExpr(w, c.args[1])
		default:
			ops := [...]string{condEq: "= ", condLT: "< ", condLE: "<= ", condGT: "> ", condGE: ">= ", condLike: "LIKE "}
			w.WriteString(ops[c.op])
			writeExpr(w, c.args[0])
		}
	}
}

func (s *Statement) formatInsert(w *strings.Builder) {
	switch s.putMode {
	case PutBlind:
		w.WriteString("REPLACE INTO ")
	case PutIgnoreExist:
		w.WriteString("INSERT IGNORE INTO ")
	default:
		w.WriteString("INSERT INTO ")
	}
	w.WriteString(s.tableName())
	if s.valueFirst {
		w.WriteString(" (v, k) VALUES ")
	} else {
		w.WriteString(" (k, v) VALUES ")
	}
	s.formatPairs(w)
}

// tableName renders the table bare when it is a plain identifier.
func (s *Statement) tableName() string {
	for i := 0; i < len(s.table); i++ {
		if !isIdentByte(s.table[i]) || (i == 0 && !isIdentStart(s.table[i])) {
			return quoteIdent(s.table)
		}
	}
	return s.table
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func writeList(w *strings.Builder, es []expr) {
	for i, e := range es {
		if i > 0 {
			w.WriteString(", ")
		}
		writeExpr(w, e)
	}
}

// writeExprs writes operands separated by spaces.
func writeExprs(w *strings.Builder, es ...expr) {
	for i, e := range es {
		if i > 0 {
			w.WriteByte(' ')
		}
		writeExpr(w, e)
	}
}

func writeExpr(w *strings.Builder, e expr) {
	switch e.kind {
	case exprBytes:
		writeBytes(w, e.b)
	case exprInt:
		w.WriteString(strconv.FormatInt(e.n, 10))
	case exprNull:
		w.WriteString("NULL")
	case exprParam:
		w.WriteString(e.paramText)
	}
}

// writeBytes writes a string literal for printable ASCII and a hex literal otherwise.
func writeBytes(w *strings.Builder, b []byte) {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			w.WriteString("x'" + hex.EncodeToString(b) + "'")
			return
		}
	}
	w.WriteString("'" + strings.ReplaceAll(string(b), "'", "''") + "'")
}
