-- GET the URL with a query parameter of its own on every request (`&miss=<thread>.<n>`):
-- each is a miss of Tempo's response cache, which keys answers by their query string.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, wrk.path .. "&miss=" .. id .. "." .. n)
end
