=== TEST 1: balancer_by_lua picks the peer with ngx.balancer.set_current_peer
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local b = require "ngx.balancer"
        local peer = ngx.var.arg_to == "2" and "$UP2" or "$UP1"
        assert(b.set_current_peer(peer))
    }
}
--- config
location / { proxy_pass http://lb; }
--- requests
GET /a?to=2
GET /b
--- bodies
up2 GET /a?to=2
up1 GET /b

=== TEST 2: address and port as two arguments
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local b = require "ngx.balancer"
        local host, port = ("$UP1"):match("^(.*):(%d+)$")
        assert(b.set_current_peer(host, tonumber(port)))
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- response_body
up1 GET /x

=== TEST 3: set_more_tries and get_last_failure drive a retry
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local b = require "ngx.balancer"
        local state, code = b.get_last_failure()
        if not state then
            assert(b.set_more_tries(1))
            assert(b.set_current_peer("$DEAD"))
        else
            ngx.log(ngx.WARN, "last failure: ", state, " ", code)
            assert(b.set_current_peer("$UP1"))
        end
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- error_code: 200
--- response_body
up1 GET /x
--- error_log
last failure: failed 502

=== TEST 4: without more tries a failed peer ends the request
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        require("ngx.balancer").set_current_peer("$DEAD")
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- error_code: 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream

=== TEST 5: a host name is refused
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local ok, err = require("ngx.balancer").set_current_peer("example.invalid", 80)
        ngx.log(ngx.WARN, "set_current_peer: ", tostring(ok), " ", err)
        assert(require("ngx.balancer").set_current_peer("$UP1"))
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- error_code: 200
--- error_log
set_current_peer: nil no host allowed

=== TEST 6: an error in the balancer is a 500
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        error("boom")
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- error_code: 500
--- error_log
failed to run balancer_by_lua*
boom

=== TEST 7: ngx.ctx set in access is seen by the balancer
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        assert(require("ngx.balancer").set_current_peer(ngx.ctx.peer))
    }
}
--- config
location / {
    access_by_lua_block { ngx.ctx.peer = "$UP2" }
    proxy_pass http://lb;
}
--- request
GET /x
--- response_body
up2 GET /x

=== TEST 8: set_timeouts applies to the try
--- http_config
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local b = require "ngx.balancer"
        assert(b.set_timeouts(0.2, 1, 1))
        assert(b.set_current_peer("$BLACKHOLE"))
    }
}
--- config
location / { proxy_pass http://lb; }
--- request
GET /x
--- error_code: 504
--- error_log
upstream timed out (110: Connection timed out) while connecting to upstream

=== TEST 9: ngx.balancer outside balancer_by_lua returns an error
--- config
location / {
    content_by_lua_block {
        local ok, err = require("ngx.balancer").set_current_peer("127.0.0.1", 80)
        ngx.say(tostring(ok), " ", err)
    }
}
--- request
GET /x
--- response_body
nil no upstream found

=== TEST 10: openclaw.upstream.peers lists the peers with their state (OpenClaw's native API)
--- http_config
upstream be { server $UP1 weight=2; server $UP2 backup; }
--- config
location / {
    content_by_lua_block {
        for _, p in ipairs(openclaw.upstream.peers("be")) do
            ngx.say(p.name, " w=", p.weight, " backup=", tostring(p.backup), " down=", tostring(p.down))
        end
        ngx.say(select(2, openclaw.upstream.peers("nope")))
    }
}
--- request
GET /x
--- response_body
$UP1 w=2 backup=false down=false
$UP2 w=1 backup=true down=false
upstream not found

=== TEST 11: openclaw.upstream.set_peer_down takes a peer out of the rotation (OpenClaw's native API)
--- http_config
upstream be { server $UP1; server $UP2; }
--- config
location = /down { content_by_lua_block { ngx.say(openclaw.upstream.set_peer_down("be", "$UP1", true)) } }
location / { proxy_pass http://be; }
--- requests
GET /down
GET /a
GET /b
--- bodies
true
up2 GET /a
up2 GET /b

=== TEST 12: openclaw.upstream.select picks by the group's algorithm, for balancer_by_lua (OpenClaw's native API)
--- http_config
upstream pool { hash $arg_k; server $UP1; server $UP2; server $UP3; }
upstream lb {
    server 0.0.0.1;
    balancer_by_lua_block {
        local peer = assert(openclaw.upstream.select("pool", ngx.var.arg_k))
        assert(require("ngx.balancer").set_current_peer(peer))
    }
}
--- config
location / { proxy_pass http://lb; }
--- requests
GET /h?k=alpha
GET /h?k=gamma
--- bodies
up2 GET /h?k=alpha
up1 GET /h?k=gamma
