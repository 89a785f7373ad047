-- One cloud project's requests of one provider on one UTC day (KEYS[1]).
-- ARGV[1] = op ("take" | "give_back" | "raise_to"), ARGV[2] = limit (take) or count (raise_to),
-- ARGV[3] = ttl in ms of the day's key.
-- Reply: {granted (1/0), count after the call}.
local key = KEYS[1]
local op = ARGV[1]
local n = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', key) or '0')
if op == 'take' then
  if used >= n then
    return {0, used}
  end
  used = redis.call('INCR', key)
  redis.call('PEXPIRE', key, ttl)
  return {1, used}
elseif op == 'give_back' then
  if used > 0 then
    used = redis.call('DECR', key)
  end
  return {1, used}
elseif op == 'raise_to' then
  if n > used then
    redis.call('SET', key, n, 'PX', ttl)
    return {1, n}
  end
  return {0, used}
end
return redis.error_reply('unknown op ' .. tostring(op))
