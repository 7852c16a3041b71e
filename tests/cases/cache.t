=== TEST 1: a miss is stored and the next request is a hit (proxy_cache_valid)
--- http_config
proxy_cache_path cache levels=1:2 keys_zone=one:1m;
log_format cs '$uri $upstream_cache_status';
--- config
access_log logs/access.log cs;
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_pass http://$UP1;
}
--- requests
GET /count/a
GET /count/a
GET /count/a
--- bodies
up1 count 1
up1 count 1
up1 count 1
--- access_log
/count/a MISS
/count/a HIT

=== TEST 2: Cache-Control max-age makes a response cacheable without proxy_cache_valid
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_pass http://$UP1;
}
--- requests
GET /count/b?h=Cache-Control:max-age=60
GET /count/b?h=Cache-Control:max-age=60
--- bodies
up1 count 1
up1 count 1

=== TEST 3: without a validity a response is not cached
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_pass http://$UP1;
}
--- requests
GET /count/c
GET /count/c
--- bodies
up1 count 1
up1 count 2

=== TEST 4: Cache-Control no-store, private and Set-Cookie keep a response out
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_pass http://$UP1;
}
--- requests
GET /count/d?h=Cache-Control:no-store
GET /count/d?h=Cache-Control:no-store
GET /count/e?h=Set-Cookie:a=b
GET /count/e?h=Set-Cookie:a=b
GET /count/f?h=Cache-Control:private
GET /count/f?h=Cache-Control:private
--- bodies
up1 count 1
up1 count 2
up1 count 3
up1 count 4
up1 count 5
up1 count 6

=== TEST 5: X-Accel-Expires wins over Cache-Control
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_pass http://$UP1;
}
--- requests
GET /count/g?h=X-Accel-Expires:60&h=Cache-Control:no-store
GET /count/g?h=X-Accel-Expires:60&h=Cache-Control:no-store
--- bodies
up1 count 1
up1 count 1

=== TEST 6: proxy_cache_bypass fetches afresh (and stores); proxy_no_cache does not store
--- http_config
proxy_cache_path cache keys_zone=one:1m;
log_format cs '$request_uri $upstream_cache_status';
--- config
access_log logs/access.log cs;
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_cache_key $uri;
    proxy_cache_bypass $arg_fresh;
    proxy_no_cache $arg_nostore;
    proxy_pass http://$UP1;
}
--- requests
GET /count/h
GET /count/h?fresh=1
GET /count/h
GET /count/i?nostore=1
GET /count/i
--- bodies
up1 count 1
up1 count 2
up1 count 2
up1 count 3
up1 count 4
--- access_log
/count/h?fresh=1 BYPASS

=== TEST 7: proxy_cache_purge by key and by prefix (nginx Plus syntax)
--- http_config
proxy_cache_path cache keys_zone=one:1m;
map $request_method $purge_method {
    PURGE   1;
    default 0;
}
--- config
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_cache_key $uri;
    proxy_cache_purge $purge_method;
    proxy_pass http://$UP1;
}
--- requests
GET /count/p1
GET /count/p2
PURGE /count/p1
GET /count/p1
GET /count/p2
PURGE /count/p*
GET /count/p2
--- error_codes: 200 200 204 200 200 204 200
--- bodies
up1 count 1
up1 count 2

up1 count 3
up1 count 2

up1 count 4

=== TEST 12: purging a key that is not cached is a 404 (nginx Plus syntax)
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_cache_purge 1;
    proxy_pass http://$UP1;
}
--- request
PURGE /count/nothing
--- error_code: 404

=== TEST 8: $upstream_cache_status in a header
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    add_header X-Cache $upstream_cache_status always;
    proxy_pass http://$UP1;
}
--- request
GET /count/x
--- response_headers
X-Cache: MISS

=== TEST 9: proxy_cache with an unknown zone is a config error
--- config
location / {
    proxy_cache nope;
    proxy_pass http://$UP1;
}
--- config_error
"proxy_cache" zone "nope" is unknown

=== TEST 10: proxy_cache_path needs keys_zone
--- http_config
proxy_cache_path cache levels=1:2;
--- config_error
"proxy_cache_path" must have "keys_zone" parameter

=== TEST 11: proxy_cache_min_uses stores after the Nth request
--- http_config
proxy_cache_path cache keys_zone=one:1m;
--- config
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_cache_min_uses 2;
    proxy_pass http://$UP1;
}
--- requests
GET /count/m
GET /count/m
GET /count/m
--- bodies
up1 count 1
up1 count 2
up1 count 2

=== TEST 13: openclaw.cache.get/set/purge for application caching (OpenClaw's native API)
--- http_config
proxy_cache_path cache keys_zone=app:1m;
--- config
location / {
    content_by_lua_block {
        local c = openclaw.cache
        ngx.say("miss: ", tostring(c.get("app", "k1")))
        ngx.say("set: ", tostring(c.set("app", "k1", "expensive answer", 60, { "model-a" })))
        c.set("app", "k2", "other", 60, { "model-b" })
        ngx.say("hit: ", c.get("app", "k1"))
        ngx.say("purged: ", c.purge{ zone = "app", tags = { "model-a" } })
        ngx.say("after: ", tostring(c.get("app", "k1")), " ", c.get("app", "k2"))
        ngx.say("prefix: ", c.purge{ zone = "app", prefix = "k" })
        ngx.say(select(2, c.get("nope", "k")))
        ngx.say(pcall(c.set, "app", "k", "v", 0))
    }
}
--- request
GET /t
--- response_body
miss: nil
set: true
hit: expensive answer
purged: 1
after: nil other
prefix: 1
cache zone not found
falsebad argument #4 to 'set' (ttl must be positive)

=== TEST 14: a HEAD miss is fetched as GET and cached for the GETs that follow
--- http_config
proxy_cache_path cache keys_zone=one:1m;
log_format cs '$request_method $uri $upstream_cache_status';
--- config
access_log logs/access.log cs;
location / {
    proxy_cache one;
    proxy_cache_valid 200 1m;
    proxy_pass http://$UP1;
}
--- requests
HEAD /count/head
GET /count/head
GET /count/head
--- error_codes: 200 200 200
--- access_log
HEAD /count/head MISS
GET /count/head HIT
