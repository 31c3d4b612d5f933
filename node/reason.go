package node

import (
	"context"
	"encoding/json"

	"github.com/hcfed/hcfed/node/seal"
)

// The reason given for a status change is free text an operator types: it
// may name the resident or say why their status changed ("close contact
// of ..."). The audit log keeps it sealed under the resident's data key,
// like every other personal field, so that deleting the resident shreds it
// (seed rule 8) while the entry — who set which status, and when — stays.

// reasonAAD binds a sealed reason to its subject.
func reasonAAD(id string) []byte { return fieldAAD(id, "status_reason") }

// statusDetail is the encoded audit detail of a status change: the status,
// the sealed reason if one was given, and whether it came in bulk.
func statusDetail(status string, sealedReason []byte, bulk bool) string {
	d := struct {
		Status string `json:"status"`
		Reason []byte `json:"reason_sealed,omitempty"` // base64, under the subject's data key
		Bulk   bool   `json:"bulk,omitempty"`
	}{status, sealedReason, bulk}
	raw, _ := json.Marshal(d) // strings and bytes always encode
	return string(raw)
}

// sealReasons seals reasons[i] under the data key of subject ids[i]. An
// empty reason, or a subject without a key (absent or deleted), gives nil.
func (r *residents) sealReasons(ctx context.Context, ids, reasons []string) ([][]byte, error) {
	var want []string
	for i, id := range ids {
		if reasons[i] != "" {
			want = append(want, id)
		}
	}
	keys, err := r.db.SubjectKeys(ctx, want)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		sealed, ok := keys[id]
		if !ok || reasons[i] == "" {
			continue
		}
		raw, err := r.kek.Open(fieldAAD(id, "dk"), sealed)
		if err != nil {
			return nil, err
		}
		dk, err := seal.NewKey(raw)
		if err != nil {
			return nil, err
		}
		out[i] = dk.Seal(reasonAAD(id), []byte(reasons[i]))
	}
	return out, nil
}
