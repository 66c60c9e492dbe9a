package txn

// MinSafeTS returns the cluster's min safe ts (PD-11, client-go's GetMinSafeTS for the
// global scope; see cluster.Cluster.MinSafeTS): every replica of every region has
// applied everything committed at or below it, and no transaction can still commit at or
// below it. A snapshot at this timestamp therefore reads the
// same data on any replica, which is what a stale read needs: TiKV serves a stale read
// (kvrpcpb.Context.StaleRead) at a timestamp no later than the replica's safe ts from
// that replica alone, without asking the leader; at a later timestamp it answers
// DataIsNotReady and the read falls back to the leader. Today's snapshots reach
// followers with WithReplicaRead, for example
//
//	snap := c.Snapshot(c.MinSafeTS(), txn.WithReplicaRead(region.ReadMixed))
//
// The value is 0 while the safe ts of any store is unknown (the first call starts the
// cluster's background updater, which refreshes it every cluster.SafeTSConfig.Interval);
// read at a fresh timestamp (CurrentTS) then. The value lags the current time by at
// least the updater's interval. MinSafeTS never blocks and is safe for concurrent use.
func (c *Client) MinSafeTS() uint64 { return c.cl.MinSafeTS() }
