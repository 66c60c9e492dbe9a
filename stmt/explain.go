package stmt

import (
	"fmt"
	"strings"

	"github.com/tikvsql/tikvsql/kv"
)

// maxExplainKeys bounds the keys EXPLAIN lists for one operation.
const maxExplainKeys = 8

// Explain renders the plan as lines of text, one operation or property per line, as
// EXPLAIN returns them. Keys are shown (printable ASCII quoted, other keys as hex);
// values are never shown, only their sizes.
func (p *Plan) Explain() []string {
	lines := []string{p.Op.String() + " (" + p.Kind.String() + ")"}
	add := func(format string, args ...any) { lines = append(lines, "  "+fmt.Sprintf(format, args...)) }
	switch p.Op {
	case OpNone:
		add("reason: the predicate selects no key, or LIMIT is 0")
	case OpGet, OpDelete, OpLock, OpTTL, OpUpdate, OpCAS:
		add("keys: %s", keyList(p.Keys))
	case OpScan, OpDeleteRange, OpChecksum:
		add("range: %v", p.Range)
	case OpPut:
		add("pairs: %d, keys: %s", len(p.Pairs), pairKeys(p.Pairs))
		add("mode: %v", p.PutMode)
	case OpBegin:
		add("mode: %s, read only: %v", txnModeName(p.Txn.Mode), p.Txn.ReadOnly)
	case OpExplain:
		for _, l := range p.Inner.Explain() {
			add("%s", l)
		}
		return lines
	}
	p.explainDetails(add)
	return lines
}

func (p *Plan) explainDetails(add func(string, ...any)) {
	if p.Op == OpScan || p.Op == OpGet {
		order := "ascending"
		if p.Reverse {
			order = "descending"
		}
		add("order: %s", order)
	}
	switch {
	case p.LimitIsGuard && p.Op == OpScan:
		add("limit: none (fails beyond maxScan = %d rows)", p.Limit)
	case p.Limit > 0:
		add("limit: %d", p.Limit)
	}
	if p.Offset > 0 {
		add("offset: %d", p.Offset)
	}
	if p.KeysOnly && (p.Op == OpScan || p.Op == OpGet) {
		add("keys only")
	}
	if p.ForUpdate {
		add("for update: lock the keys read")
	}
	if p.Count {
		add("aggregate: count(*)")
	}
	if p.TTL > 0 {
		add("ttl: %v", p.TTL)
	}
	switch {
	case p.Op == OpCAS && p.ExpectAbsent:
		add("expected: absent, new value: %d bytes", len(p.Value))
	case p.Op == OpCAS:
		add("expected value: %d bytes, new value: %d bytes", len(p.Expected), len(p.Value))
	case p.Op == OpUpdate:
		add("new value: %d bytes, only if the key exists", len(p.Value))
	}
	if p.Op == OpLock {
		switch {
		case p.Wait.NoWait:
			add("wait: nowait")
		case p.Wait.Timeout > 0:
			add("wait: %v", p.Wait.Timeout)
		default:
			add("wait: session default")
		}
	}
	if len(p.Columns) > 0 {
		names := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			names[i] = c.Name + " " + c.Type.DatabaseTypeName()
		}
		add("columns: %s", strings.Join(names, ", "))
	}
}

func txnModeName(m TxnMode) string {
	switch m {
	case TxnOptimistic:
		return "optimistic"
	case TxnPessimistic:
		return "pessimistic"
	}
	return "session default"
}

// keyList renders at most maxExplainKeys keys, then the total.
func keyList(keys []kv.Key) string {
	var b strings.Builder
	for i, k := range keys {
		if i == maxExplainKeys {
			fmt.Fprintf(&b, ", ... (%d keys)", len(keys))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k.String())
	}
	return b.String()
}

func pairKeys(pairs []kv.KeyValue) string {
	keys := make([]kv.Key, len(pairs))
	for i, p := range pairs {
		keys[i] = p.Key
	}
	return keyList(keys)
}
