package worker

// The batcher's orders and the heap that keeps them. Not safe for
// concurrent use: the batcher's heaps are guarded by w.mu like the rest of
// it.

func older(a, b *batch) bool {
	if !a.created.Equal(b.created) {
		return a.created.Before(b.created)
	}
	return a.id < b.id
}

// batchHeap is a heap of batches under an order of its own, with each
// batch's index kept for removal.
type batchHeap struct {
	items []*batch
	less  func(a, b *batch) bool
}

func (h *batchHeap) Len() int           { return len(h.items) }
func (h *batchHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *batchHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].heapIdx, h.items[j].heapIdx = i, j
}
func (h *batchHeap) Push(x any) {
	b := x.(*batch)
	b.heapIdx = len(h.items)
	h.items = append(h.items, b)
}
func (h *batchHeap) Pop() any {
	n := len(h.items) - 1
	b := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	return b
}

// peek returns the heap's first batch, or nil.
func (h *batchHeap) peek() *batch {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// dueFirst orders batches by the time they may be sent again.
func dueFirst(a, b *batch) bool {
	if !a.notBefore.Equal(b.notBefore) {
		return a.notBefore.Before(b.notBefore)
	}
	return older(a, b)
}
