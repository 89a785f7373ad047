-- GCRA (generic cell rate algorithm) for one company: decides and, when it allows, records the
-- decision in one atomic call, so one round trip serves every engine instance consistently.
-- Mirrors `step` in gcra.rs (the local fallback); keep the two in step.
--
-- KEYS[1]  the company's key; its value is the theoretical arrival time (TAT) in microseconds of
--          Redis server time, as a decimal integer
-- ARGV[1]  emission interval in microseconds (one request per interval); 0 = allows nothing
-- ARGV[2]  burst: requests allowed at one instant from a full allowance; 0 = allows nothing
-- ARGV[3]  cost n of this decision (0 = only look, never writes)
-- Returns  {1, remaining} allowed; {0, retry_after_us} limited; {0, -1} limited for good (the
--          limit allows nothing, or n is larger than the burst)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
if interval <= 0 or burst <= 0 or n > burst then
  return {0, -1}
end

-- Server time, so instances on different clocks agree. Scripts replicate by effects (Redis >= 5
-- by default, always in 7), so reading TIME before a write is allowed.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- A missing (expired) or unreadable TAT, or one in the past, means a full allowance.
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end

local tolerance = interval * burst
local new_tat = tat + interval * n
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, allow_at - now}
end

if n > 0 then
  -- '%d', not tostring: Lua prints numbers with 14 significant digits, a TAT needs 16.
  -- The key expires when the allowance is full again, i.e. when it stops mattering.
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
end
return {1, math.floor((tolerance - (new_tat - now)) / interval)}
