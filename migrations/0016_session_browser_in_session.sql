-- The browser a signed-in session was last used from now rides in the session's own row
-- (payload field _browser, written by the adapter with each save of the session), so recording it
-- costs no statement of its own and it ends with the session. What session_devices held for live
-- sessions moves there; the table goes.
update oidc_payloads s
   set payload = s.payload || jsonb_build_object('_browser', jsonb_build_object(
         'userAgent', d.user_agent, 'ip', d.ip, 'seenAt', floor(extract(epoch from d.last_seen_at))::bigint))
  from session_devices d
 where s.model = 'Session' and s.uid = d.session_uid and not s.payload ? '_browser';
drop table session_devices;
