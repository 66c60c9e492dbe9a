package memdb

import (
	"errors"
	"fmt"
)

// ErrInvalidHandle reports a staging handle that is not the innermost open level, or a
// checkpoint that is no longer valid (a level it was taken in was cleaned up, or an
// earlier checkpoint was reverted to).
var ErrInvalidHandle = errors.New("memdb: invalid staging handle or checkpoint")

// undoRec is the state of an entry before the first change after a barrier (a staging
// level or a checkpoint).
type undoRec struct {
	idx     int32
	val     ref
	flags   KeyFlags
	hasVal  bool
	created bool   // the entry did not exist before
	stamp   uint32 // the entry's stamp before this record
}

// level is an open staging level.
type level struct {
	undoPos int
	gen     uint32
}

// genRange is a closed range of generations whose checkpoints were reverted away.
type genRange struct{ lo, hi uint32 }

// StagingHandle identifies an open staging level.
type StagingHandle int

// Checkpoint is a position in the buffer's history to which RevertToCheckpoint returns.
type Checkpoint struct {
	undoPos int
	gen     uint32
	levels  int // open levels when it was taken
}

// newBarrier starts a generation: the first change of every entry after it is recorded.
func (db *DB) newBarrier() uint32 {
	db.gen++
	db.recording = true
	return db.gen
}

// save records entry i's state if it has not been recorded since the latest barrier.
func (db *DB) save(i int32) {
	e := &db.entries[i]
	if !db.recording || e.stamp >= db.gen {
		return
	}
	db.undo = append(db.undo, undoRec{idx: i, val: e.val, flags: e.flags, hasVal: e.hasVal, stamp: e.stamp})
	e.stamp = db.gen
}

// saveCreated records that entry i was created.
func (db *DB) saveCreated(i int32) {
	if !db.recording {
		return
	}
	db.undo = append(db.undo, undoRec{idx: i, created: true})
	db.entries[i].stamp = db.gen
}

// Staging opens a nested staging level and returns its handle.
func (db *DB) Staging() StagingHandle {
	gen := db.newBarrier()
	db.levels = append(db.levels, level{undoPos: len(db.undo), gen: gen})
	return StagingHandle(len(db.levels))
}

// Release closes the innermost level h and keeps its changes in the enclosing level (or in
// the buffer, when h is the outermost).
func (db *DB) Release(h StagingHandle) error {
	if err := db.checkTop(h); err != nil {
		return err
	}
	db.levels = db.levels[:len(db.levels)-1]
	db.maybeStopRecording()
	return nil
}

// Cleanup closes the innermost level h and reverts every change made since it opened,
// except persistent flags.
func (db *DB) Cleanup(h StagingHandle) error {
	if err := db.checkTop(h); err != nil {
		return err
	}
	top := db.levels[len(db.levels)-1]
	db.levels = db.levels[:len(db.levels)-1]
	db.kill(top.gen)
	db.revert(top.undoPos)
	db.maybeStopRecording()
	return nil
}

func (db *DB) checkTop(h StagingHandle) error {
	if h <= 0 || int(h) != len(db.levels) {
		return fmt.Errorf("%w: handle %d, %d levels open", ErrInvalidHandle, h, len(db.levels))
	}
	return nil
}

// Checkpoint returns the current position, to which RevertToCheckpoint can return. Taking
// a checkpoint makes the buffer keep an undo log for the rest of its life.
func (db *DB) Checkpoint() Checkpoint {
	db.cpTaken = true
	gen := db.newBarrier()
	return Checkpoint{undoPos: len(db.undo), gen: gen, levels: len(db.levels)}
}

// RevertToCheckpoint reverts every change made after cp, except persistent flags. Staging
// levels opened after cp must have been closed first.
func (db *DB) RevertToCheckpoint(cp Checkpoint) error {
	if cp.gen == 0 || db.dead(cp.gen) || cp.undoPos > len(db.undo) || cp.levels != len(db.levels) {
		return fmt.Errorf("%w: checkpoint at %d, undo log %d, levels %d (then %d)",
			ErrInvalidHandle, cp.undoPos, len(db.undo), len(db.levels), cp.levels)
	}
	if len(db.levels) > 0 && cp.undoPos < db.levels[len(db.levels)-1].undoPos {
		return fmt.Errorf("%w: checkpoint predates the innermost staging level", ErrInvalidHandle)
	}
	db.kill(cp.gen + 1)
	db.revert(cp.undoPos)
	return nil
}

// kill marks every generation from lo to the current one as reverted away: checkpoints
// taken in them no longer describe a reachable state.
func (db *DB) kill(lo uint32) {
	if lo <= db.gen {
		db.deadGens = append(db.deadGens, genRange{lo: lo, hi: db.gen})
	}
}

// dead reports whether generation g was reverted away.
func (db *DB) dead(g uint32) bool {
	for _, r := range db.deadGens {
		if g >= r.lo && g <= r.hi {
			return true
		}
	}
	return false
}

// revert replays the undo log backwards down to pos and truncates it. Persistent flags an
// entry has when the revert starts are put back afterwards: they record locks that exist
// in TiKV whatever the buffer forgets. The result is the state at the barrier plus the
// current persistent flags.
func (db *DB) revert(pos int) {
	recs := db.undo[pos:]
	keep := make(map[int32]KeyFlags)
	for _, r := range recs {
		if _, seen := keep[r.idx]; !seen {
			keep[r.idx] = db.entries[r.idx].flags & PersistentFlags
		}
	}
	for j := len(recs) - 1; j >= 0; j-- {
		r := recs[j]
		e := &db.entries[r.idx]
		wasVisible, oldSize := e.visible(), db.entrySize(e)
		if r.created {
			e.val, e.hasVal, e.flags, e.stamp = ref{}, false, 0, 0
		} else {
			e.val, e.hasVal, e.flags, e.stamp = r.val, r.hasVal, r.flags, r.stamp
		}
		db.account(e, wasVisible, oldSize)
	}
	db.undo = db.undo[:pos]
	// Putting the persistent flags back is a change made after the barriers that are still
	// alive, so it is recorded like any other write.
	for idx, p := range keep {
		if e := &db.entries[idx]; p&^e.flags != 0 {
			db.save(idx)
			wasVisible, oldSize := e.visible(), db.entrySize(e)
			e.flags |= p
			db.account(e, wasVisible, oldSize)
		}
	}
	db.writes++
}

// maybeStopRecording drops the undo log once no level is open and no checkpoint exists.
func (db *DB) maybeStopRecording() {
	if len(db.levels) == 0 && !db.cpTaken {
		db.recording = false
		db.undo = db.undo[:0]
	}
}

// Levels returns the number of open staging levels.
func (db *DB) Levels() int { return len(db.levels) }
