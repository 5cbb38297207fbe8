-- Product detail: a random id from ids.txt (one id a line, in the current directory) per request.
local ids = {}
for line in io.lines("ids.txt") do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", "/api/v1/products/" .. ids[math.random(#ids)])
end
