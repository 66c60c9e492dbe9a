package txn

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/tikvsql/tikvsql/kv/cluster"
)

// Pre-split of large commits (TXN-35).
//
// A transaction that writes a great many keys into one region sends that region's
// leader all of its prewrites at once; TiKV answers "server is busy" and the region
// splits under load anyway. Before prewriting (and before pessimistic lock requests and
// pipelined flushes, which load a region the same way), the client therefore looks for
// region groups of at least PreSplitDetectThreshold keys and splits each such region
// every PreSplitSizeThreshold bytes of keys and values (the key that reaches the
// threshold starts the next region), asks PD to scatter the new regions, waits a bounded
// time for the scatter, and then sends the requests: they group the keys by region again
// and find the new layout, as the split invalidated the cached regions.
//
// Pre-split is an optimisation: a split, scatter or wait that fails is logged and the
// commit goes on. Only the end of the caller's ctx stops the commit (nothing is written
// yet then).

// Defaults of PreSplitConfig (client-go's preSplitDetectThreshold,
// preSplitSizeThreshold and waitScatterRegionFinishBackoff).
const (
	// DefaultPreSplitDetectThreshold is the number of mutations of one transaction in
	// one region from which the region is split before prewrite (100 000).
	DefaultPreSplitDetectThreshold = 100_000
	// DefaultPreSplitSizeThreshold is the size of keys plus values after which such a
	// region is split (32 MiB).
	DefaultPreSplitSizeThreshold = 32 << 20
	// DefaultPreSplitScatterWait bounds the wait for PD to scatter the new regions
	// (120 s).
	DefaultPreSplitScatterWait = 120 * time.Second
)

// PreSplitConfig tunes the pre-split of large commits (TXN-35). The zero value of each
// field is the default named on it.
type PreSplitConfig struct {
	// PreSplitDetectThreshold is how many mutations one region must receive from one
	// commit before it is split (DefaultPreSplitDetectThreshold); a negative value
	// turns pre-split off.
	PreSplitDetectThreshold int
	// PreSplitSizeThreshold is the size in bytes of keys plus values after which such a
	// region is cut (DefaultPreSplitSizeThreshold; values below 1 mean the default).
	PreSplitSizeThreshold int
	// PreSplitScatterWait bounds how long a commit waits for PD to scatter the regions
	// it split (DefaultPreSplitScatterWait); the caller's ctx bounds it too. When it
	// runs out the commit goes on.
	PreSplitScatterWait time.Duration
}

func (p *PreSplitConfig) setDefaults() {
	setInt(&p.PreSplitDetectThreshold, DefaultPreSplitDetectThreshold)
	if p.PreSplitSizeThreshold <= 0 {
		p.PreSplitSizeThreshold = DefaultPreSplitSizeThreshold
	}
	setDur(&p.PreSplitScatterWait, DefaultPreSplitScatterWait)
}

// preSplit pre-splits the regions of the commit's large region groups. A commit that
// fits one prewrite request is left alone: it cannot load a region much, and splitting
// it would silently turn a 1PC commit into two-phase commit (with the default thresholds
// and batch size the case cannot arise: 100 000 mutations never fit one 16 KiB batch).
func (cm *committer) preSplit(ctx context.Context) error {
	th := cm.c.cfg.PreSplitDetectThreshold
	if th < 0 || len(cm.muts) < th {
		return nil
	}
	if len(batchBySize(cm.muts, cm.c.cfg.CommitBatchSize, mutationSize)) <= 1 {
		return nil
	}
	_, err := preSplitItems(ctx, cm.c, cm.startTS, cm.muts, mutationKey, mutationSize)
	return err
}

func mutationKey(m mutation) []byte { return m.key }
func mutationSize(m mutation) int   { return len(m.key) + len(m.value) }

// preSplitLocks pre-splits for a pessimistic lock request of keys (client-go pre-splits
// every action's region groups; locks carry no value, so keys alone count).
func (c *Client) preSplitLocks(ctx context.Context, startTS uint64, keys [][]byte) error {
	_, err := preSplitItems(ctx, c, startTS, keys, func(k []byte) []byte { return k }, func(k []byte) int { return len(k) })
	return err
}

// sizedKey is a key with the bytes it adds to its region.
type sizedKey struct {
	key  []byte
	size int
}

// preSplitItems splits the regions that receive at least PreSplitDetectThreshold of
// items, every PreSplitSizeThreshold bytes, scatters the new regions and waits for the
// scatter within PreSplitScatterWait. Items need not be sorted. It returns the IDs of the
// new regions. Failures are logged, not returned: the error is ctx's, wrapped, once ctx
// has ended.
func preSplitItems[T any](ctx context.Context, c *Client, startTS uint64, items []T, key func(T) []byte,
	size func(T) int) ([]uint64, error) {
	th := c.cfg.PreSplitDetectThreshold
	if th < 0 || len(items) < th {
		return nil, nil
	}
	sk := make([]sizedKey, len(items))
	for i, it := range items {
		sk[i] = sizedKey{key: key(it), size: size(it)}
	}
	if !slices.IsSortedFunc(sk, compareSizedKeys) {
		slices.SortFunc(sk, compareSizedKeys)
	}
	groups, err := groupSizedKeys(ctx, c, sk)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("txn: pre-split: %w", ctx.Err())
		}
		c.log.Warn("txn: pre-split: cannot group keys by region", zap.Uint64("startTS", startTS), zap.Error(err))
		return nil, nil
	}
	var created, toWait []uint64
	for _, g := range groups {
		if len(g.keys) < th {
			continue
		}
		splitKeys := splitPoints(g.keys, c.cfg.PreSplitSizeThreshold)
		if len(splitKeys) == 0 {
			continue
		}
		c.log.Info("txn: transaction writes many keys into one region; pre-splitting it",
			zap.Uint64("region", g.region), zap.Int("keys", len(g.keys)), zap.Int("splitKeys", len(splitKeys)),
			zap.Uint64("startTS", startTS))
		ids, err := c.cl.SplitRegions(ctx, splitKeys, cluster.SplitOptions{Scatter: true})
		created = append(created, ids...)
		switch {
		case err == nil:
			toWait = append(toWait, ids...)
		case ctx.Err() != nil:
			return created, fmt.Errorf("txn: pre-split: %w", ctx.Err())
		default:
			// A region split before the failure stays split; a scatter PD refused is not
			// waited for.
			c.log.Warn("txn: pre-split of a region failed; committing without it", zap.Uint64("region", g.region),
				zap.Int("keys", len(g.keys)), zap.Int("newRegions", len(ids)), zap.Uint64("startTS", startTS),
				zap.Error(err))
		}
	}
	if len(toWait) == 0 {
		return created, nil
	}
	// One wait for all the groups: the scatter of one region overlaps the split of the
	// next, where client-go waits after each group.
	wctx, cancel := context.WithTimeout(ctx, c.cfg.PreSplitScatterWait)
	defer cancel()
	if err := c.cl.WaitScatter(wctx, toWait); err != nil {
		if ctx.Err() != nil {
			return created, fmt.Errorf("txn: pre-split: %w", ctx.Err())
		}
		c.log.Warn("txn: wait for the scatter of pre-split regions ended; committing", zap.Int("regions", len(toWait)),
			zap.Uint64("startTS", startTS), zap.Error(err))
	}
	return created, nil
}

func compareSizedKeys(a, b sizedKey) int { return bytes.Compare(a.key, b.key) }

// sizedGroup is the sorted keys of one region.
type sizedGroup struct {
	region uint64
	keys   []sizedKey
}

// groupSizedKeys cuts sorted keys by region, with one cache lookup per region.
func groupSizedKeys(ctx context.Context, c *Client, keys []sizedKey) ([]sizedGroup, error) {
	var groups []sizedGroup
	start := 0
	for start < len(keys) {
		loc, err := c.cl.Cache().Locate(ctx, keys[start].key)
		if err != nil {
			return nil, err
		}
		end := start + 1
		for end < len(keys) && loc.Contains(keys[end].key) {
			end++
		}
		groups = append(groups, sizedGroup{region: loc.Region.ID, keys: keys[start:end]})
		start = end
	}
	return groups, nil
}

// splitPoints returns the split keys of one region's sorted keys: the key at
// which the running size of keys and values reaches limit; the count restarts after it.
func splitPoints(keys []sizedKey, limit int) [][]byte {
	var out [][]byte
	acc := 0
	for _, k := range keys {
		acc += k.size
		if acc >= limit {
			out = append(out, k.key)
			acc = 0
		}
	}
	return out
}
