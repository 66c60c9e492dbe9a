package stmt

import (
	"slices"

	"github.com/tikvsql/tikvsql/kv"
)

// Result columns of the native verbs.
func kvColumns(keysOnly bool) []Column {
	if keysOnly {
		return []Column{{Name: "k", Type: TypeBytes, src: srcKey}}
	}
	return []Column{{Name: "k", Type: TypeBytes, src: srcKey}, {Name: "v", Type: TypeBytes, src: srcValue}}
}

// plan compiles a statement whose placeholders are resolved.
func (b *binder) plan(st *Statement) (*Plan, error) {
	p := &Plan{Kind: st.kind}
	var err error
	switch st.kind {
	case KindGet, KindBatchGet:
		p.Op, p.Columns = OpGet, kvColumns(false)
		p.Keys, err = b.keys(st.keys)
	case KindDelete, KindBatchDelete:
		p.Op = OpDelete
		p.Keys, err = b.keys(st.keys)
	case KindPut, KindBatchPut, KindInsert:
		err = b.compilePut(st, p)
	case KindScan, KindScanPrefix:
		err = b.compileScan(st, p)
	case KindDeleteRange, KindChecksum:
		p.Op = OpDeleteRange
		if st.kind == KindChecksum {
			p.Op = OpChecksum
			p.Columns = []Column{{Name: "crc64_xor", Type: TypeInt, src: srcCRC},
				{Name: "total_kvs", Type: TypeInt, src: srcTotalKVs}, {Name: "total_bytes", Type: TypeInt, src: srcTotalBytes}}
		}
		p.Range, err = b.rangeOf(st)
	case KindCAS, KindUpdate:
		err = b.compileCAS(st, p)
	case KindTTL:
		p.Op = OpTTL
		p.Columns = []Column{{Name: "k", Type: TypeBytes, src: srcKey}, {Name: "ttl", Type: TypeInt, Nullable: true, src: srcTTL}}
		p.Keys, err = b.keys(st.keys)
	case KindLock:
		err = b.compileLock(st, p)
	case KindSelect:
		err = b.compileSelect(st, p)
	case KindDeleteWhere:
		err = b.compileDeleteWhere(st, p)
	case KindExplain:
		p.Op = OpExplain
		p.Columns = []Column{{Name: "plan", Type: TypeText, src: srcPlan}}
		p.Inner, err = b.plan(st.inner)
	default:
		compileSimple(st, p)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// compileSimple handles the statements without operands.
func compileSimple(st *Statement, p *Plan) {
	switch st.kind {
	case KindBegin:
		p.Op = OpBegin
		p.Txn.ReadOnly = st.readOnly
		switch st.pessimistic {
		case -1:
			p.Txn.Mode = TxnOptimistic
		case 1:
			p.Txn.Mode = TxnPessimistic
		}
	case KindCommit:
		p.Op = OpCommit
	case KindRollback:
		p.Op = OpRollback
	case KindSelectConst:
		p.Op = OpConst
		p.Columns = []Column{{Name: "1", Type: TypeInt, src: srcConst}}
	case KindSelectVersion:
		p.Op = OpVersion
		p.Columns = []Column{{Name: "version()", Type: TypeText, src: srcVersion}}
	}
}

// compilePut binds the pairs of PUT, BATCH PUT and INSERT and resolves duplicate keys
// within the statement: a blind write keeps the last value, INSERT IGNORE the first, and
// a plain INSERT fails with *kv.KeyExistsError.
func (b *binder) compilePut(st *Statement, p *Plan) error {
	p.Op, p.PutMode = OpPut, st.putMode
	p.Pairs = make([]kv.KeyValue, 0, len(st.pairs))
	index := make(map[string]int, len(st.pairs))
	for _, pr := range st.pairs {
		k, err := b.key(pr.k)
		if err != nil {
			return err
		}
		v, _, err := b.bytesOf(pr.v, false)
		if err != nil {
			return err
		}
		i, dup := index[string(k)]
		switch {
		case !dup:
			index[string(k)] = len(p.Pairs)
			p.Pairs = append(p.Pairs, kv.KeyValue{Key: k, Value: v})
		case st.putMode == PutIfAbsent:
			return &kv.KeyExistsError{Key: kv.Key(k).Clone()}
		case st.putMode == PutBlind:
			p.Pairs[i].Value = v
		}
	}
	if st.ttl.kind != exprNone {
		ttl, err := b.ttlOf(st.ttl)
		if err != nil {
			return err
		}
		p.TTL = ttl
	}
	return nil
}

// limits binds LIMIT and OFFSET, or sets the implicit maxScan guard.
func (b *binder) limits(st *Statement, p *Plan) error {
	if st.offset.kind != exprNone {
		n, err := b.intOf(st.offset, "an offset")
		if err != nil {
			return err
		}
		p.Offset = int(n)
	}
	if st.limit.kind == exprNone {
		p.Limit, p.LimitIsGuard = b.maxScan, true
		return nil
	}
	n, err := b.intOf(st.limit, "a limit")
	if err != nil {
		return err
	}
	p.Limit = int(n)
	if n == 0 {
		p.Op = OpNone
	}
	return nil
}

func (b *binder) compileScan(st *Statement, p *Plan) error {
	p.Op, p.Reverse, p.KeysOnly = OpScan, st.reverse, st.keysOnly
	p.Columns = kvColumns(st.keysOnly)
	if st.kind == KindScanPrefix {
		prefix, err := b.key(st.prefix)
		if err != nil {
			return err
		}
		r := kv.PrefixRange(prefix)
		p.Range = rangeSet(r.Start, r.End).r
	} else {
		r, err := b.rangeOf(st)
		if err != nil {
			return err
		}
		p.Range = r
		if r.Empty() {
			p.Op = OpNone
		}
	}
	return b.limits(st, p)
}

// compileCAS handles CAS k expected new and UPDATE kv SET v = x WHERE k = y [AND v = z]
// (a plain UPDATE writes only if the key exists).
func (b *binder) compileCAS(st *Statement, p *Plan) error {
	p.Op = OpCAS
	key, err := b.key(st.keys[0])
	if err != nil {
		return err
	}
	p.Keys = []kv.Key{key}
	if p.Value, _, err = b.bytesOf(st.value, false); err != nil {
		return err
	}
	if st.kind == KindCAS {
		p.Columns = []Column{{Name: "swapped", Type: TypeBool, src: srcSwapped},
			{Name: "previous", Type: TypeBytes, Nullable: true, src: srcPrevious}}
	} else if st.expected.kind == exprNone {
		p.Op = OpUpdate
		return nil
	}
	p.Expected, p.ExpectAbsent, err = b.bytesOf(st.expected, st.kind == KindCAS)
	return err
}

func (b *binder) compileLock(st *Statement, p *Plan) error {
	p.Op = OpLock
	p.Wait.NoWait = st.noWait
	if st.wait.kind != exprNone {
		d, err := b.waitOf(st.wait)
		if err != nil {
			return err
		}
		p.Wait.Timeout = d
	}
	var err error
	p.Keys, err = b.keys(st.keys)
	return err
}

// compileSelect turns the normalized key set into point reads or a range scan.
func (b *binder) compileSelect(st *Statement, p *Plan) error {
	set, err := b.where(st)
	if err != nil {
		return err
	}
	p.Reverse, p.ForUpdate = st.reverse, st.forUpdate
	p.KeysOnly = true
	for _, it := range st.items {
		p.KeysOnly = p.KeysOnly && (it.count || it.col == colK)
		p.Columns = append(p.Columns, selectColumn(it))
	}
	p.Count = st.items[0].count
	switch {
	case set.empty:
		p.Op = OpNone
	case set.isPts:
		p.Op, p.Keys = OpGet, set.points
		if p.Reverse {
			p.Keys = slices.Clone(p.Keys)
			slices.Reverse(p.Keys)
		}
	default:
		p.Op, p.Range = OpScan, set.r
	}
	op := p.Op
	if err := b.limits(st, p); err != nil {
		return err
	}
	if op == OpGet && !p.LimitIsGuard && p.Op != OpNone {
		p.Keys = window(p.Keys, p.Offset, p.Limit)
		p.Offset, p.Limit = 0, 0
		if len(p.Keys) == 0 {
			p.Op = OpNone
		}
	} else if op == OpGet {
		p.Limit, p.LimitIsGuard = 0, false // point reads are bounded by the statement
	}
	return nil
}

// window applies OFFSET and LIMIT to an ordered key list.
func window(keys []kv.Key, offset, limit int) []kv.Key {
	if offset >= len(keys) {
		return nil
	}
	keys = keys[offset:]
	if limit < len(keys) {
		keys = keys[:limit]
	}
	return keys
}

func selectColumn(it selectItem) Column {
	c := Column{Name: "k", Type: TypeBytes, src: srcKey}
	switch {
	case it.count:
		c = Column{Name: "count(*)", Type: TypeInt, src: srcCount}
	case it.col == colV:
		c = Column{Name: "v", Type: TypeBytes, src: srcValue}
	}
	if it.alias != "" {
		c.Name = it.alias
	}
	return c
}

// compileDeleteWhere turns DELETE FROM kv WHERE ... into point deletes or a range delete.
func (b *binder) compileDeleteWhere(st *Statement, p *Plan) error {
	set, err := b.where(st)
	if err != nil {
		return err
	}
	switch {
	case set.empty:
		p.Op = OpNone
	case set.isPts:
		p.Op, p.Keys = OpDelete, set.points
	default:
		p.Op, p.Range = OpDeleteRange, set.r
	}
	return nil
}
