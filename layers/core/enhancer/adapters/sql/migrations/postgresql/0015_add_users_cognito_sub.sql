-- Sign-in through Amazon Cognito (docs/architecture.md §3, Identity): a user is keyed by the Cognito subject
-- (`sub`, which never changes), while the email it signs in with may. NULL for users who never signed in
-- through Cognito; a UNIQUE index allows many NULLs.
ALTER TABLE users ADD COLUMN cognito_sub TEXT;
CREATE UNIQUE INDEX idx_users_cognito_sub ON users(cognito_sub);
