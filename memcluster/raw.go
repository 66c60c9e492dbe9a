package memcluster

import (
	"bytes"
	"hash/crc64"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// rawValue is one RawKV value; expireAt is zero for a value without TTL.
type rawValue struct {
	value    []byte
	expireAt time.Time
}

// rawStore holds RawKV data: one ordered map per column family, keyed by wire key. TTLs
// expire by the cluster's clock. It is safe for concurrent use.
type rawStore struct {
	mu  sync.Mutex
	cfs map[string]*ordered[rawValue]
	now func() time.Time
}

var crcTable = crc64.MakeTable(crc64.ECMA)

func newRawStore(now func() time.Time) *rawStore {
	return &rawStore{cfs: map[string]*ordered[rawValue]{}, now: now}
}

// cf returns the map of column family name ("" is "default").
func (r *rawStore) cf(name string) *ordered[rawValue] {
	if name == "" {
		name = "default"
	}
	m := r.cfs[name]
	if m == nil {
		m = newOrdered[rawValue]()
		r.cfs[name] = m
	}
	return m
}

func (r *rawStore) live(v rawValue, now time.Time) bool {
	return v.expireAt.IsZero() || now.Before(v.expireAt)
}

func (r *rawStore) getLocked(cf string, key []byte, now time.Time) (rawValue, bool) {
	v, ok := r.cf(cf).Get(key)
	if !ok || !r.live(v, now) {
		return rawValue{}, false
	}
	return v, true
}

// Get returns the value of key in cf.
func (r *rawStore) Get(cf string, key []byte) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.getLocked(cf, key, r.now())
	return v.value, ok
}

// BatchGet returns the pairs of keys that exist, in request order.
func (r *rawStore) BatchGet(cf string, keys [][]byte) []*kvrpcpb.KvPair {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*kvrpcpb.KvPair
	for _, k := range keys {
		if v, ok := r.getLocked(cf, k, now); ok {
			out = append(out, &kvrpcpb.KvPair{Key: k, Value: v.value})
		}
	}
	return out
}

func (r *rawStore) valueWithTTL(val []byte, ttl uint64, now time.Time) rawValue {
	v := rawValue{value: clone(val)}
	if ttl > 0 {
		v.expireAt = now.Add(time.Duration(ttl) * time.Second)
	}
	return v
}

// Put stores pairs in cf; ttls holds one TTL in seconds per pair, or one for all, or none.
func (r *rawStore) Put(cf string, pairs []*kvrpcpb.KvPair, ttls []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, m := r.now(), r.cf(cf)
	for i, p := range pairs {
		var ttl uint64
		switch {
		case len(ttls) == len(pairs):
			ttl = ttls[i]
		case len(ttls) == 1:
			ttl = ttls[0]
		}
		m.Set(p.Key, r.valueWithTTL(p.Value, ttl, now))
	}
}

// Delete removes keys from cf.
func (r *rawStore) Delete(cf string, keys [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.cf(cf)
	for _, k := range keys {
		m.Delete(k)
	}
}

// DeleteRange removes the keys of [start, end) from cf.
func (r *rawStore) DeleteRange(cf string, start, end []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.cf(cf)
	var ks [][]byte
	m.Ascend(start, end, func(k []byte, _ rawValue) bool { ks = append(ks, k); return true })
	for _, k := range ks {
		m.Delete(k)
	}
}

// Scan returns up to limit live pairs of [start, end) in cf, descending when reverse. A
// limit of 0 reads nothing, as in TiKV.
func (r *rawStore) Scan(cf string, start, end []byte, limit int, keyOnly, reverse bool) []*kvrpcpb.KvPair {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*kvrpcpb.KvPair
	visit := func(k []byte, v rawValue) bool {
		if !r.live(v, now) {
			return true
		}
		p := &kvrpcpb.KvPair{Key: clone(k)}
		if !keyOnly {
			p.Value = v.value
		}
		out = append(out, p)
		return len(out) < limit
	}
	if limit <= 0 {
		return nil
	}
	if reverse {
		r.cf(cf).Descend(start, end, visit)
	} else {
		r.cf(cf).Ascend(start, end, visit)
	}
	return out
}

// TTL returns the remaining TTL of key in whole seconds (0 for no TTL).
func (r *rawStore) TTL(cf string, key []byte) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	v, ok := r.getLocked(cf, key, now)
	if !ok || v.expireAt.IsZero() {
		return 0, ok
	}
	left := v.expireAt.Sub(now)
	return uint64((left + time.Second - 1) / time.Second), true
}

// CompareAndSwap sets (or deletes) key when its current state matches the expectation:
// absent when prevNotExist, otherwise equal to prevValue. It returns whether it swapped
// and the state it found.
func (r *rawStore) CompareAndSwap(req *kvrpcpb.RawCASRequest) (ok, prevNotExist bool, prev []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	cur, exists := r.getLocked(req.Cf, req.Key, now)
	if req.PreviousNotExist == exists || (exists && !bytes.Equal(cur.value, req.PreviousValue)) {
		return false, !exists, cur.value
	}
	if req.Delete {
		r.cf(req.Cf).Delete(req.Key)
	} else {
		r.cf(req.Cf).Set(req.Key, r.valueWithTTL(req.Value, req.Ttl, now))
	}
	return true, !exists, cur.value
}

// Checksum XOR-folds the CRC64-ECMA of key||value over the live pairs of the default
// column family in ranges, with the number of pairs and their total size.
func (r *rawStore) Checksum(ranges []*kvrpcpb.KeyRange) (crc, kvs, size uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for _, rg := range ranges {
		r.cf("").Ascend(rg.StartKey, rg.EndKey, func(k []byte, v rawValue) bool {
			if r.live(v, now) {
				d := crc64.New(crcTable)
				d.Write(k)
				d.Write(v.value)
				crc ^= d.Sum64()
				kvs++
				size += uint64(len(k) + len(v.value))
			}
			return true
		})
	}
	return crc, kvs, size
}
