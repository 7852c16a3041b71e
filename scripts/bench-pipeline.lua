-- wrk script for scripts/bench.sh's pipelined scenarios: each write carries DEPTH requests
-- (`wrk ... -s scripts/bench-pipeline.lua URL -- DEPTH`, 8 by default), as HTTP/1.1
-- pipelining clients send them.
init = function(args)
   local depth = tonumber(args[1]) or 8
   local batch = {}
   for i = 1, depth do
      batch[i] = wrk.format(nil)
   end
   req = table.concat(batch)
end

request = function()
   return req
end
