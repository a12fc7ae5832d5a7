-- signed_up_at: the account was created by the person on the sign-up page (SIGNUP_ENABLED), not by
-- an operator or an invitation. While SIGNUP_REQUIRE_VERIFIED_EMAIL is on, such an account cannot
-- complete a sign-in until its address is verified (oidc/provider.ts); the setting decides at each
-- sign-in, so turning it off later lets these accounts in without a migration.
alter table accounts add column signed_up_at timestamptz;
