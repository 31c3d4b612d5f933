package node

// QRRenders is how many QR images n has encoded (cache misses), and
// QRCached how many it holds: for tests of the QR cache.
func QRRenders(n *Node) int64 { return n.codes.qrs.renders.Load() }

// QRCached is how many rendered QR images n holds.
func QRCached(n *Node) int { return n.codes.qrs.len() }
