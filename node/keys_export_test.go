package node

// KeysTruncations is how many times n truncated keys.db's WAL, each a
// pause of issuance at the key gate: for tests of batched deletions.
func KeysTruncations(n *Node) int64 { return n.db.KeysTruncations() }
