package retry

// The grants a window holds, each until it leaves the window. grantLog has
// no lock of its own: it is part of a bucket's window, guarded by
// Budget.mu.

import "time"

// grantLog holds, for each recent grant, the time it leaves the window,
// earliest first, with the grant's number.
type grantLog struct {
	until []time.Time
	ids   []uint64
	head  int // until[head:] are live
	next  uint64
}

// add records a grant leaving the window at until and returns its number.
// Grants mostly arrive in order; one made at light load leaves a little
// later than those after it, so it is moved back past them.
func (g *grantLog) add(until time.Time) uint64 {
	g.next++
	g.until, g.ids = append(g.until, until), append(g.ids, g.next)
	g.sink(len(g.until) - 1)
	return g.next
}

// extend makes grant id, if still in the window, leave it no earlier than
// until.
func (g *grantLog) extend(id uint64, until time.Time) {
	for i := len(g.ids) - 1; i >= g.head; i-- {
		if g.ids[i] != id {
			continue
		}
		if until.After(g.until[i]) {
			g.until[i] = until
			for ; i+1 < len(g.until) && g.until[i+1].Before(g.until[i]); i++ {
				g.until[i], g.until[i+1] = g.until[i+1], g.until[i]
				g.ids[i], g.ids[i+1] = g.ids[i+1], g.ids[i]
			}
		}
		return
	}
}

// sink moves entry i back past the later ones before it.
func (g *grantLog) sink(i int) {
	for ; i > g.head && g.until[i].Before(g.until[i-1]); i-- {
		g.until[i], g.until[i-1] = g.until[i-1], g.until[i]
		g.ids[i], g.ids[i-1] = g.ids[i-1], g.ids[i]
	}
}

// live drops the grants that left the window by now and returns how many
// remain.
func (g *grantLog) live(now time.Time) int {
	for g.head < len(g.until) && !g.until[g.head].After(now) {
		g.head++
	}
	if g.head > 1024 && g.head > len(g.until)/2 {
		g.until = append(g.until[:0], g.until[g.head:]...)
		g.ids = append(g.ids[:0], g.ids[g.head:]...)
		g.head = 0
	}
	return len(g.until) - g.head
}

// nth returns when the i-th live grant, oldest first, leaves the window.
func (g *grantLog) nth(i int) time.Time { return g.until[g.head+i] }
