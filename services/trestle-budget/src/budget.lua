-- One company's monthly budget: reserve, settle, release or peek in one atomic call, so one
-- round trip serves every engine instance consistently. Mirrors local.rs (the fallback) only
-- loosely: the fallback grants shares, it does not keep this state.
--
-- KEYS[1]  hash {queries_used, queries_reserved, cost_spent, cost_reserved} (cost in micro-USD)
-- KEYS[2]  sorted set of open reservations: member "{id}:{estimate}", score = expiry (ms of
--          Redis server time)
-- KEYS[3]  sorted set of completed reservation ids: score = reserved_at (ms); forgotten once
--          older than the settle window
-- ARGV[1]  op: reserve | settle | release | peek
-- ARGV[2]  reservation ttl ms; ARGV[3] settle window ms; ARGV[4] key ttl ms
-- reserve  ARGV[5] id, ARGV[6] estimate, ARGV[7] query limit, ARGV[8] cost limit (-1 = none)
-- settle / release  ARGV[5] id, ARGV[6] estimate, ARGV[7] reserved_at ms, ARGV[8] actual cost
-- Returns  {status, detail, queries_used, queries_reserved, cost_spent, cost_reserved, now_ms,
--           reclaimed}, the usage as it stands after the call:
--   reserve: status 1 granted; 0 refused with detail 1 (queries) or 2 (cost)
--   settle / release: status 1 applied (detail 1 if the hold was still open), 2 already done,
--                     3 too late (outside the settle window)
--   peek: status 1
local op = ARGV[1]
local ttl_ms = tonumber(ARGV[2])
local window_ms = tonumber(ARGV[3])
local key_ttl_ms = ARGV[4]

-- Server time, so instances on different clocks agree. Scripts replicate by effects (always in
-- Redis 7), so reading TIME before a write is allowed.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- '%d', not tostring: Lua prints numbers with 14 significant digits.
local function int(n)
  return string.format('%d', n)
end

local function usage()
  local h = redis.call('HMGET', KEYS[1], 'queries_used', 'queries_reserved', 'cost_spent',
    'cost_reserved')
  return tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
end

-- 1. Reclaim the holds of reservations whose ttl passed (crashed callers), a bounded batch per
-- call; the rest go on the next calls.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 500)
if #expired > 0 then
  local cost = 0
  for _, member in ipairs(expired) do
    cost = cost + (tonumber(string.match(member, ':(%d+)$')) or 0)
  end
  redis.call('HINCRBY', KEYS[1], 'queries_reserved', -#expired)
  redis.call('HINCRBY', KEYS[1], 'cost_reserved', int(-cost))
  redis.call('ZREM', KEYS[2], unpack(expired))
end
-- Completed ids older than the window can no longer be settled: forget them.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. int(now - window_ms))

local function touch()
  for i = 1, 3 do
    redis.call('PEXPIRE', KEYS[i], key_ttl_ms)
  end
end

local function reply(status, detail)
  local qu, qr, cs, cr = usage()
  return {status, detail, qu, qr, cs, cr, now, #expired}
end

if op == 'reserve' then
  local id, estimate = ARGV[5], tonumber(ARGV[6])
  local query_limit, cost_limit = tonumber(ARGV[7]), tonumber(ARGV[8])
  local qu, qr, cs, cr = usage()
  if query_limit >= 0 and qu + qr + 1 > query_limit then
    touch()
    return reply(0, 1)
  end
  if cost_limit >= 0 and cs + cr + estimate > cost_limit then
    touch()
    return reply(0, 2)
  end
  redis.call('HINCRBY', KEYS[1], 'queries_reserved', 1)
  redis.call('HINCRBY', KEYS[1], 'cost_reserved', ARGV[6])
  redis.call('ZADD', KEYS[2], int(now + ttl_ms), id .. ':' .. ARGV[6])
  touch()
  return reply(1, 0)
elseif op == 'settle' or op == 'release' then
  local id, estimate, reserved_at = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
  if redis.call('ZSCORE', KEYS[3], id) then
    return reply(2, 0)
  end
  if reserved_at < now - window_ms then
    return reply(3, 0)
  end
  -- Still open: give its hold back. Not open (reclaimed, or granted by an instance's fallback):
  -- there is no hold to give back, but a settle still counts what was spent.
  local open = redis.call('ZREM', KEYS[2], id .. ':' .. ARGV[6])
  if open == 1 then
    redis.call('HINCRBY', KEYS[1], 'queries_reserved', -1)
    redis.call('HINCRBY', KEYS[1], 'cost_reserved', int(-estimate))
  end
  if op == 'settle' then
    redis.call('HINCRBY', KEYS[1], 'queries_used', 1)
    redis.call('HINCRBY', KEYS[1], 'cost_spent', ARGV[8])
  end
  redis.call('ZADD', KEYS[3], int(reserved_at), id)
  touch()
  return reply(1, open)
elseif op == 'peek' then
  if #expired > 0 then
    touch()
  end
  return reply(1, 0)
end
return redis.error_reply('unknown budget op ' .. tostring(op))
