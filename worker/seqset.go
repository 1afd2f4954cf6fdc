package worker

// Sorted sets of seqs: the operations split and fail need on a batch's and
// a record's seqs, both sorted and distinct. Pure functions, safe anywhere.

import "iter"

// side says which of two sets holds an element.
type side int8

const (
	inA side = iota
	inB
	inBoth
)

// merged yields the elements of sorted, distinct a and b in ascending
// order, each once, with the side that holds it. Every operation below is
// one walk of it.
func merged(a, b []uint64) iter.Seq2[uint64, side] {
	return func(yield func(uint64, side) bool) {
		i, j := 0, 0
		for i < len(a) || j < len(b) {
			var v uint64
			var s side
			switch {
			case j == len(b) || i < len(a) && a[i] < b[j]:
				v, s = a[i], inA
				i++
			case i == len(a) || b[j] < a[i]:
				v, s = b[j], inB
				j++
			default:
				v, s = a[i], inBoth
				i++
				j++
			}
			if !yield(v, s) {
				return
			}
		}
	}
}

// intersects reports whether sorted a and b share an element.
func intersects(a, b []uint64) bool {
	for _, s := range merged(a, b) {
		if s == inBoth {
			return true
		}
	}
	return false
}

// intersection returns the elements of sorted a that are in sorted b.
func intersection(a, b []uint64) []uint64 {
	var out []uint64
	for v, s := range merged(a, b) {
		if s == inBoth {
			out = append(out, v)
		}
	}
	return out
}

// union merges sorted, distinct a and b.
func union(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	for v := range merged(a, b) {
		out = append(out, v)
	}
	return out
}
