-- wrk script: anonymous PutObject of one body to fresh keys in the source bucket.
-- BODY_FILE names the bytes to send; every request gets its own key, so nothing is overwritten.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "PUT"
  wrk.headers["Content-Type"] = "image/jpeg"
end

function request()
  counter = counter + 1
  return wrk.format("PUT", "/uploads/bench/" .. id .. "-" .. counter .. ".jpg")
end
