-- sessions_valid_after: signing an account out everywhere (users set-password, users revoke-grants)
-- sets it, and the provider refuses every session, code and token of the account authenticated
-- before it (oidc/provider.ts findAccount). Deleting the rows alone is not enough: a request
-- already in flight saves its session (or grant) again after the delete.
-- password_changed_at: set with each new password, so a sign-in that checked the old one is
-- refused (accounts/store.ts recordSuccess) while a concurrent rehash of the same password is not.
alter table accounts add column sessions_valid_after timestamptz, add column password_changed_at timestamptz;
