package memdb

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/tikvsql/tikvsql/kv"
)

// model is the reference the DB is checked against: a map plus copies for every barrier.
type mstate struct {
	val    []byte
	hasVal bool
	flags  KeyFlags
}

type model map[string]mstate

func (m model) clone() model {
	c := make(model, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// revertTo returns snap with the current persistent flags kept, as Cleanup does.
func (m model) revertTo(snap model) model {
	out := snap.clone()
	for k, v := range m {
		if p := v.flags & PersistentFlags; p != 0 {
			s := out[k]
			s.flags |= p
			out[k] = s
		}
	}
	return out
}

type barrier struct {
	snap  model
	depth int
	cp    *Checkpoint
	h     StagingHandle
}

// runOps interprets ops as a program of buffer operations and checks the DB against the
// model after each one.
func runOps(t *testing.T, ops []byte) {
	db := New(Limits{KeySize: -1, EntrySize: -1, TotalSize: -1})
	m := model{}
	var levels []barrier // staging levels
	var cps []barrier    // checkpoints usable at their depth
	for i := 0; i+2 < len(ops); i += 3 {
		op, k, v := ops[i]%9, []byte{'k', ops[i+1] % 24}, []byte{'v', ops[i+2]}
		ks := string(k)
		switch op {
		case 0, 1:
			_ = db.Set(k, v)
			s := m[ks]
			s.val, s.hasVal = v, true
			m[ks] = s
		case 2:
			_ = db.Delete(k)
			s := m[ks]
			s.val, s.hasVal = []byte{}, true
			m[ks] = s
		case 3:
			set, clr := KeyFlags(1)<<(ops[i+2]%14), KeyFlags(1)<<(ops[i+2]/16%14)
			_ = db.UpdateFlags(k, set, clr)
			s := m[ks]
			s.flags = (s.flags | set) &^ clr
			m[ks] = s
		case 4:
			levels = append(levels, barrier{snap: m.clone(), depth: len(levels), h: db.Staging()})
		case 5, 6:
			if len(levels) == 0 {
				continue
			}
			top := levels[len(levels)-1]
			levels = levels[:len(levels)-1]
			if op == 5 {
				mustOK(t, db.Release(top.h))
			} else {
				mustOK(t, db.Cleanup(top.h))
				m = m.revertTo(top.snap)
			}
			cps = dropDeeper(cps, len(levels))
		case 7:
			cp := db.Checkpoint()
			cps = append(cps, barrier{snap: m.clone(), depth: len(levels), cp: &cp})
		case 8:
			if len(cps) == 0 || cps[len(cps)-1].depth != len(levels) {
				continue
			}
			j := int(ops[i+2]) % len(cps)
			for cps[j].depth != len(levels) {
				j++
			}
			mustOK(t, db.RevertToCheckpoint(*cps[j].cp))
			m = m.revertTo(cps[j].snap)
			cps = cps[:j+1]
		}
		check(t, db, m)
	}
}

func dropDeeper(cps []barrier, depth int) []barrier {
	out := cps[:0]
	for _, c := range cps {
		if c.depth <= depth {
			out = append(out, c)
		}
	}
	return out
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, db *DB, m model) {
	t.Helper()
	var keys []string
	size := 0
	for k, s := range m {
		if s.hasVal || s.flags != 0 {
			keys = append(keys, k)
			size += len(k) + len(s.val)
		}
		v, ok := db.Get([]byte(k))
		if ok != s.hasVal || (ok && !bytes.Equal(v, s.val)) || db.Flags([]byte(k)) != s.flags {
			t.Fatalf("key %q: db (%q %v %b) model (%q %v %b)", k, v, ok, db.Flags([]byte(k)), s.val, s.hasVal, s.flags)
		}
	}
	sort.Strings(keys)
	if db.Len() != len(keys) || db.Size() != size {
		t.Fatalf("Len %d Size %d, model %d %d", db.Len(), db.Size(), len(keys), size)
	}
	var got []string
	for it := db.Iter(kv.KeyRange{}, IterOptions{WithFlagsOnly: true}); it.Valid(); it.Next() {
		got = append(got, string(it.Key()))
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("iteration %q, model %q", got, keys)
	}
	var rev []string
	for it := db.Iter(kv.KeyRange{}, IterOptions{WithFlagsOnly: true, Reverse: true}); it.Valid(); it.Next() {
		rev = append([]string{string(it.Key())}, rev...)
	}
	if fmt.Sprint(rev) != fmt.Sprint(keys) {
		t.Fatalf("reverse iteration %q, model %q", rev, keys)
	}
}

// FuzzMemDB checks random programs of writes, flags, staging and checkpoints against a
// map model.
func FuzzMemDB(f *testing.F) {
	f.Add([]byte{0, 1, 1, 4, 0, 0, 0, 2, 2, 6, 0, 0})
	f.Add([]byte{7, 0, 0, 0, 1, 1, 3, 1, 2, 4, 0, 0, 3, 1, 0x21, 6, 0, 0, 8, 0, 0})
	f.Add([]byte{4, 0, 0, 7, 0, 0, 1, 3, 3, 8, 0, 0, 5, 0, 0, 2, 3, 0})
	f.Fuzz(func(t *testing.T, ops []byte) { runOps(t, ops) })
}

// TestModelRandom runs long deterministic programs so the model check covers deep trees
// without the fuzzer.
func TestModelRandom(t *testing.T) {
	seed := uint32(1)
	for round := 0; round < 20; round++ {
		ops := make([]byte, 3000)
		for i := range ops {
			seed = seed*1664525 + 1013904223
			ops[i] = byte(seed >> 24)
		}
		runOps(t, ops)
	}
}
