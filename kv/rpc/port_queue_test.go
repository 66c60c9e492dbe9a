package rpc

import "testing"

// client-go: internal/client/priority_queue_test.go TestPriority (high-priority requests
// come out ahead of normal ones, each class in arrival order, and a drained queue is
// empty) and TestPriorityQueueTakeAllLeavesReferencesInBackingArray (taking everything
// leaves no reference to a taken request behind in the queue's arrays, so a finished
// request is not kept alive by an idle queue). Our queue has two classes, not numeric
// priorities (PriorityHigh bypasses the in-flight limit, TestPriority).
func TestPortQueueOrderAndNoStaleReferences(t *testing.T) {
	q := newQueue()
	var pushed []*entry
	for i := range 6 {
		e := &entry{high: i%3 == 2}
		pushed = append(pushed, e)
		if !q.push(e) {
			t.Fatal("push refused")
		}
	}
	high, normal := q.drain(nil, nil)
	if len(high) != 2 || high[0] != pushed[2] || high[1] != pushed[5] {
		t.Fatalf("high class %v", high)
	}
	if len(normal) != 4 || normal[0] != pushed[0] || normal[1] != pushed[1] || normal[2] != pushed[3] || normal[3] != pushed[4] {
		t.Fatalf("normal class %v", normal)
	}
	for name, s := range map[string][]*entry{"high": q.high, "normal": q.normal} {
		if len(s) != 0 {
			t.Fatalf("%s class not empty after drain", name)
		}
		for i, e := range s[:cap(s)] {
			if e != nil {
				t.Fatalf("%s class keeps a reference to a taken entry at %d", name, i)
			}
		}
	}
	if h, n := q.drain(nil, nil); len(h)+len(n) != 0 {
		t.Fatal("second drain returned entries")
	}
	// After close, pushes are refused and close hands back what was queued.
	left := &entry{}
	q.push(left)
	if all := q.close(); len(all) != 1 || all[0] != left {
		t.Fatalf("close returned %v", all)
	}
	if q.push(&entry{}) {
		t.Fatal("push after close accepted")
	}
}
