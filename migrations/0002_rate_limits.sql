-- Per-IP request counters of rate-limiter-flexible (RateLimiterPostgres), shared by every node so a
-- limit holds across the cluster. The shape is the library's own (its _getCreateTableStmt):
-- key = '<limiter>:<address>', points used in the window, expire in epoch milliseconds.
create table rate_limits (
  key     varchar(255) primary key,
  points  integer      not null default 0,
  expire  bigint
);
create index rate_limits_expire on rate_limits (expire);
