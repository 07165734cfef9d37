package eventstore

import (
	"fmt"
	"iter"
)

// merge yields the commits of several sequences, each in CommitID order, as
// one sequence in CommitID order. The first error ends it. It stops every
// input when the caller stops.
func merge(inputs []iter.Seq2[Commit, error]) iter.Seq2[Commit, error] {
	return func(yield func(Commit, error) bool) {
		type head struct {
			next func() (Commit, error, bool)
			c    Commit
		}
		heads := make([]*head, 0, len(inputs))
		for _, in := range inputs {
			next, stop := iter.Pull2(in)
			defer stop()
			c, err, ok := next()
			if err != nil {
				yield(Commit{}, err)
				return
			}
			if ok {
				heads = append(heads, &head{next: next, c: c})
			}
		}
		last := ""
		for len(heads) > 0 {
			min := 0
			for i, h := range heads {
				if h.c.CommitID < heads[min].c.CommitID {
					min = i
				}
			}
			h := heads[min]
			if h.c.CommitID <= last {
				yield(Commit{}, fmt.Errorf("%w: commit %s out of order after %s", ErrCorruptCommit, h.c.CommitID, last))
				return
			}
			last = h.c.CommitID
			if !yield(h.c, nil) {
				return
			}
			c, err, ok := h.next()
			switch {
			case err != nil:
				yield(Commit{}, err)
				return
			case ok:
				h.c = c
			default:
				heads = append(heads[:min], heads[min+1:]...)
			}
		}
	}
}
