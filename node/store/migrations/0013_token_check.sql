-- 0013_token_check: bearer tokens carry a keyed check (node/tokencheck.go),
-- so that a guessed one is refused without a read. The key, sealed by the
-- KEK, is made at the node's first start with this schema (meta
-- auth.token_check_key). The tokens
-- issued before carry no check: their hashes are listed in legacy_tokens,
-- and a token of the old form is looked up only if its hash is listed, so
-- that they keep working while guesses of that form are refused unread
-- too. The list only shrinks (the node drops the hashes of tokens deleted
-- since, at start).
CREATE TABLE legacy_tokens (
	hash BLOB PRIMARY KEY
) STRICT, WITHOUT ROWID;

INSERT INTO legacy_tokens (hash) SELECT hash FROM tokens UNION SELECT token_hash FROM replicas;
