-- A random v2 listing page among 8 categories x 2 sorts x 10 price bands = 160 distinct queries.
local cats = {"books","garden","kitchen","music","outdoor","tools","toys","video"}
local sorts = {"price","-price"}
request = function()
  local c = cats[math.random(#cats)]
  local s = sorts[math.random(#sorts)]
  local lo = (math.random(10) - 1) * 5000
  return wrk.format("GET", "/api/v2/products?limit=20&category=" .. c .. "&sort=" .. s .. "&min_price=" .. lo)
end
