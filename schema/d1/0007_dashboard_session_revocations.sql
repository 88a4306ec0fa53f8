-- Dashboard sessions ended by sign-out before their expiry. A session cookie is a signed,
-- self-contained token; listing its id here makes a copied cookie useless after sign-out.
-- Rows are only needed until the session would have expired anyway (expires_at, epoch s).
CREATE TABLE IF NOT EXISTS dashboard_session_revocations (
  session_id TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
