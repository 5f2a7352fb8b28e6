-- wrk: POSTs one GraphQL request (the file BODY names) with the bearer
-- token TOKEN when set, and counts answers that hold GraphQL errors, which
-- wrk alone would count as successes (GraphQL answers errors with 200).
--   BODY=file.json TOKEN=... wrk -s post.lua ...
local file = assert(io.open(os.getenv("BODY"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  errors = 0
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("errors")
  end
  io.write(string.format("graphql_errors %d\n", total))
end
