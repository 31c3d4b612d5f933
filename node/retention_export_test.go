package node

import "time"

// SetRetentionBatch makes n's retention passes delete subjects past their
// retention batch at a time, for work at most (retention.subjects): for
// tests of a pass that has more to delete than one batch.
func SetRetentionBatch(n *Node, batch int, work time.Duration) {
	n.retention.batch, n.retention.work = batch, work
}
